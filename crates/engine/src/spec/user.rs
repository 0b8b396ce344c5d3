//! `--user` and `--group-add` resolved against the image's /etc/passwd and /etc/group, with the
//! rules of runc's `GetExecUser` (which Docker uses): names must exist, numeric ids need not,
//! a user's supplementary groups come from /etc/group membership.

use super::SpecError;

/// The identity the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups: /etc/group memberships (unless a group was given explicitly),
    /// then `--group-add`.
    pub additional_gids: Vec<u32>,
    /// Home directory from /etc/passwd (`/` when unknown), for `HOME`.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Resolves `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`) and `group_add`.
/// `passwd` and `group` are the image's files, `None` when the image has none.
pub fn resolve_user(
    user: &str,
    group_add: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, SpecError> {
    let (user_arg, group_arg) = user.split_once(':').unwrap_or((user, ""));
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();
    let uid_arg = parse_id(user_arg);
    let mut out = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".to_string(),
    };
    let found = users.iter().find(|u| match (user_arg, uid_arg) {
        ("", _) => u.uid == 0,
        (_, Some(Ok(uid))) => u.uid == uid,
        (name, _) => u.name == name,
    });
    let mut matched_name = "";
    match (found, uid_arg) {
        (Some(u), _) => {
            matched_name = u.name;
            out.uid = u.uid;
            out.gid = u.gid;
            out.home = u.home.to_string();
        }
        (None, None) if user_arg.is_empty() => {}
        (None, None) => return Err(SpecError::UnknownUser(user_arg.to_string())),
        (None, Some(Ok(uid))) => out.uid = uid,
        (None, Some(Err(()))) => return Err(SpecError::IdOutOfRange(user_arg.to_string())),
    }
    if !group_arg.is_empty() {
        let gid_arg = parse_id(group_arg);
        let found = groups.iter().find(|g| match gid_arg {
            Some(Ok(gid)) => g.gid == gid,
            _ => g.name == group_arg,
        });
        out.gid = match (found, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(Ok(gid))) => gid,
            (None, Some(Err(()))) => return Err(SpecError::IdOutOfRange(group_arg.to_string())),
            (None, None) => return Err(SpecError::UnknownGroup(group_arg.to_string())),
        };
    } else if !matched_name.is_empty() {
        out.additional_gids = groups
            .iter()
            .filter(|g| g.members.contains(&matched_name))
            .map(|g| g.gid)
            .collect();
    }
    for extra in group_add {
        let gid = match groups.iter().find(|g| g.name == extra.as_str()) {
            Some(g) => g.gid,
            None => match parse_id(extra) {
                Some(Ok(gid)) => gid,
                _ => return Err(SpecError::UnknownAdditionalGroup(extra.clone())),
            },
        };
        if !out.additional_gids.contains(&gid) {
            out.additional_gids.push(gid);
        }
    }
    Ok(out)
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `None`: not a number (a name); `Some(Err)`: a number out of range; `Some(Ok)`: an id.
fn parse_id(s: &str) -> Option<Result<u32, ()>> {
    if !is_numeric(s) {
        return None;
    }
    Some(match s.parse::<u32>() {
        Ok(id) if id <= i32::MAX as u32 => Ok(id),
        _ => Err(()),
    })
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry<'_>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?,
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or("/"),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry<'_>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(GroupEntry {
                name: f.first()?,
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # comment\n\
                          www:x:33:33:www:/var/www:/bin/false\n\
                          app:x:1000:1000::/home/app:/bin/sh\n\
                          broken line\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\nwww:x:33:\napp:x:1000:\naudio:x:29:app\n";

    fn r(user: &str, add: &[&str]) -> Result<ResolvedUser, SpecError> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_user(user, &add, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn user_table() {
        // (user, group-add) → (uid, gid, additional gids, home)
        type Want = (u32, u32, &'static [u32], &'static str);
        let cases: &[(&str, &[&str], Want)] = &[
            ("", &[], (0, 0, &[10], "/root")),
            ("root", &[], (0, 0, &[10], "/root")),
            ("app", &[], (1000, 1000, &[10, 29], "/home/app")),
            ("1000", &[], (1000, 1000, &[10, 29], "/home/app")),
            ("app:www", &[], (1000, 33, &[], "/home/app")),
            ("app:33", &[], (1000, 33, &[], "/home/app")),
            ("4242", &[], (4242, 0, &[], "/")),
            ("4242:4343", &[], (4242, 4343, &[], "/")),
            (
                "www",
                &["audio", "5000", "wheel"],
                (33, 33, &[29, 5000, 10], "/var/www"),
            ),
            ("app", &["wheel"], (1000, 1000, &[10, 29], "/home/app")),
        ];
        for (user, add, (uid, gid, extra, home)) in cases {
            let got = r(user, add).unwrap();
            assert_eq!(
                (
                    got.uid,
                    got.gid,
                    got.additional_gids.as_slice(),
                    got.home.as_str()
                ),
                (*uid, *gid, *extra, *home),
                "{user} {add:?}"
            );
        }
    }

    #[test]
    fn user_errors() {
        let cases = [
            (
                "nobody",
                "unable to find user nobody: no matching entries in passwd file",
            ),
            (
                "app:staff",
                "unable to find group staff: no matching entries in group file",
            ),
            ("99999999999", "out of range"),
        ];
        for (user, want) in cases {
            assert!(
                r(user, &[]).unwrap_err().to_string().contains(want),
                "{user}"
            );
        }
        assert_eq!(
            r("app", &["staff"]).unwrap_err().to_string(),
            "Unable to find group staff"
        );
    }

    #[test]
    fn images_without_passwd_accept_numeric_ids_only() {
        let u = resolve_user("123:456", &[], None, None).unwrap();
        assert_eq!((u.uid, u.gid), (123, 456));
        let u = resolve_user("", &[], None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/"));
        assert!(matches!(
            resolve_user("app", &[], None, None),
            Err(SpecError::UnknownUser(_))
        ));
    }
}
