//! `--security-opt` values: which of them Berth acts on and what they mean.

use super::SpecError;

/// The parsed security options of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityOpts {
    /// `no-new-privileges[:true|=true]`.
    pub no_new_privileges: bool,
    /// The seccomp choice.
    pub seccomp: SeccompChoice,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub unconfined_paths: bool,
}

/// What `seccomp=` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompChoice {
    /// Not given (or `builtin`): the runtime's default profile.
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// A Docker seccomp profile as JSON text (the docker CLI reads the file and sends its
    /// contents; the engine does the same for API clients that send a path).
    Profile(String),
}

/// Parses `HostConfig.SecurityOpt`. `apparmor=` and `label=` are accepted and ignored (Berth
/// applies no LSM profile); anything else is refused with Docker's message.
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts, SpecError> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("no-new-privileges", None) => out.no_new_privileges = true,
            ("no-new-privileges", Some(v)) => {
                out.no_new_privileges = parse_bool(v).ok_or_else(|| {
                    SpecError::SecurityOpt(format!(
                        "3: invalid no-new-privileges value {v:?}: expected true or false"
                    ))
                })?;
            }
            (_, None) => return Err(SpecError::SecurityOpt(format!("1: {opt:?}"))),
            ("seccomp", Some("unconfined")) => out.seccomp = SeccompChoice::Unconfined,
            ("seccomp", Some("builtin" | "")) => out.seccomp = SeccompChoice::Default,
            ("seccomp", Some(v)) if v.trim_start().starts_with('{') => {
                out.seccomp = SeccompChoice::Profile(v.to_string())
            }
            ("seccomp", Some(v)) => {
                return Err(SpecError::Seccomp(format!(
                    "expected a JSON profile, \"unconfined\" or \"builtin\", got {v:?} (the \
                     client or engine must read profile files)"
                )));
            }
            ("systempaths", Some("unconfined")) => out.unconfined_paths = true,
            ("apparmor" | "label", Some(_)) => {}
            _ => return Err(SpecError::SecurityOpt(format!("2: {opt:?}"))),
        }
    }
    Ok(out)
}

use berth_api_types::go::parse_bool;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> Result<SecurityOpts, SpecError> {
        parse_security_opts(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn security_opt_table() {
        assert!(p(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(!p(&["no-new-privileges:false"]).unwrap().no_new_privileges);
        assert_eq!(
            p(&["seccomp=unconfined"]).unwrap().seccomp,
            SeccompChoice::Unconfined
        );
        assert_eq!(p(&[]).unwrap().seccomp, SeccompChoice::Default);
        assert_eq!(
            p(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#])
                .unwrap()
                .seccomp,
            SeccompChoice::Profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.into())
        );
        assert!(p(&["systempaths=unconfined"]).unwrap().unconfined_paths);
        assert!(p(&["apparmor=unconfined", "label=disable"]).is_ok());
    }

    #[test]
    fn security_opt_errors() {
        let cases = [
            ("bogus", "invalid --security-opt 1: \"bogus\""),
            ("foo=bar", "invalid --security-opt 2: \"foo=bar\""),
            ("no-new-privileges:maybe", "invalid no-new-privileges value"),
            ("seccomp=/etc/profile.json", "expected a JSON profile"),
        ];
        for (opt, want) in cases {
            let e = p(&[opt]).unwrap_err().to_string();
            assert!(e.contains(want), "{opt}: {e}");
        }
    }
}
