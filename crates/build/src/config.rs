//! What a stage's instructions do to its image config, and which variables each instruction
//! sees — Docker's `ARG`/`ENV` rules, so a Dockerfile means here what it means there.
//!
//! - `ARG`s before the first `FROM` are seen by `FROM` lines only; a stage sees one when it
//!   declares it again (`ARG NAME` takes the global value).
//! - A stage's `ARG NAME=default` takes the `--build-arg` value when one is given, else its
//!   default (expanded). `ENV` wins over an `ARG` of the same name.
//! - The proxy variables (`HTTP_PROXY`, …) may be passed without being declared; the platform
//!   ones (`TARGETPLATFORM`, `BUILDARCH`, …) are set for `FROM` lines and for stages that
//!   declare them.
//! - A `--build-arg` nothing declares is reported back (Docker warns about it).
//!
//! The metadata instructions (`ENV`, `LABEL`, `WORKDIR`, `USER`, `EXPOSE`, `VOLUME`,
//! `STOPSIGNAL`, `CMD`, `ENTRYPOINT`, `SHELL`, `HEALTHCHECK`, `ONBUILD`) are applied here to
//! the config; the ones that change files (`RUN`, `COPY`, `ADD`) are the builder's, which asks
//! [`Scope::vars`] what they see.

use crate::dockerfile::{ArgDecl, Command, Flag, Instruction, Stage, Step};
use crate::error::{BuildError, Result};
use crate::words::{self, Vars};
use berth_api_types::image::ImageConfig;
use std::collections::{BTreeMap, BTreeSet};

/// Variables a build may pass without an `ARG` for them.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The platform a build runs on and builds for (`os/arch[/variant]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// Go's architecture name (`amd64`, `arm64`).
    pub arch: String,
    /// `v7`, `v8`, or none.
    pub variant: Option<String>,
}

impl Platform {
    /// Reads `os[/arch[/variant]]` (`linux/arm64`, `linux/arm/v7`; `x86_64` and `aarch64`
    /// taken as Go's `amd64` and `arm64`); the arch defaults to `default_arch`.
    pub fn parse(spec: &str, default_arch: &str) -> Result<Platform, String> {
        let mut parts = spec.trim().split('/');
        let os = parts.next().unwrap_or_default().to_ascii_lowercase();
        let arch = parts.next().map_or(default_arch.to_string(), |a| {
            berth_api_types::go::arch_of(&a.to_ascii_lowercase()).to_string()
        });
        let variant = parts.next().map(str::to_ascii_lowercase);
        if os.is_empty() || arch.is_empty() || parts.next().is_some() {
            return Err(format!(
                "invalid platform {spec:?}: expected os/arch[/variant]"
            ));
        }
        Ok(Platform { os, arch, variant })
    }

    /// Whether an image made for `self` runs here on `host` (a variant only counts when both
    /// name one).
    pub fn runs_on(&self, host: &Platform) -> bool {
        self.os == host.os
            && self.arch == host.arch
            && (self.variant.is_none() || host.variant.is_none() || self.variant == host.variant)
    }

    /// `os/arch[/variant]`.
    pub fn spec(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.arch),
            None => format!("{}/{}", self.os, self.arch),
        }
    }

    /// The automatic platform arguments (`TARGETPLATFORM`, `TARGETOS`, …, `BUILDVARIANT`).
    pub fn args(&self, build: &Platform) -> Vars {
        let mut out = Vars::new();
        for (prefix, p) in [("TARGET", self), ("BUILD", build)] {
            out.insert(format!("{prefix}PLATFORM"), p.spec());
            out.insert(format!("{prefix}OS"), p.os.clone());
            out.insert(format!("{prefix}ARCH"), p.arch.clone());
            out.insert(
                format!("{prefix}VARIANT"),
                p.variant.clone().unwrap_or_default(),
            );
        }
        out
    }
}

/// What a build was given: `--build-arg`s and the platforms (none by default: what applies
/// `--change`s to a config declares no `ARG`).
#[derive(Debug, Clone, Default)]
pub struct BuildInputs {
    /// `--build-arg NAME=value` (a `NAME` without value takes the client's environment, which
    /// the client resolves before sending).
    pub build_args: BTreeMap<String, String>,
    /// The platform built for.
    pub target: Platform,
    /// The platform building.
    pub build: Platform,
}

/// The variables seen at one point of a stage.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    args: Vars,
    env: Vars,
    /// `--build-arg`s some `ARG` declared (the others are reported as unused).
    used: BTreeSet<String>,
}

impl Scope {
    /// What an instruction sees: the declared `ARG`s, overridden by `ENV`s.
    pub fn vars(&self) -> Vars {
        let mut v = self.args.clone();
        v.extend(self.env.iter().map(|(k, val)| (k.clone(), val.clone())));
        v
    }

    /// The `ARG`s in scope with their values (a `RUN` gets them in its environment).
    pub fn args(&self) -> &Vars {
        &self.args
    }
}

/// The values of the global `ARG`s, which the `FROM` lines see (with the platform args).
pub fn global_scope(
    globals: &[ArgDecl],
    inputs: &BuildInputs,
    escape: char,
) -> Result<Scope, String> {
    let mut scope = Scope {
        args: inputs.target.args(&inputs.build),
        ..Scope::default()
    };
    for arg in globals {
        declare(&mut scope, arg, inputs, None, escape)?;
    }
    Ok(scope)
}

fn declare(
    scope: &mut Scope,
    arg: &ArgDecl,
    inputs: &BuildInputs,
    globals: Option<&Scope>,
    escape: char,
) -> Result<(), String> {
    let value = if let Some(v) = inputs.build_args.get(&arg.name) {
        scope.used.insert(arg.name.clone());
        Some(v.clone())
    } else if let Some(default) = &arg.default {
        Some(words::process_word(default, &scope.vars(), escape).map_err(|e| e.0)?)
    } else {
        globals.and_then(|g| g.args.get(&arg.name)).cloned()
    };
    // An ARG without a value anywhere is declared, and expands to nothing.
    scope
        .args
        .insert(arg.name.clone(), value.unwrap_or_default());
    Ok(())
}

/// A stage evaluated: its base, as the `FROM` line names it once expanded, and its config.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// The base image or stage name, expanded (`busybox:1.36`, `scratch`, `build`).
    pub base: String,
    /// `--platform`, expanded.
    pub platform: Option<String>,
}

/// Expands a stage's `FROM` line with the global scope.
pub fn evaluate_from(
    stage: &Stage,
    globals: &Scope,
    file: &str,
    escape: char,
) -> Result<Evaluated> {
    let err = |message: String| BuildError::Instruction {
        file: file.to_string(),
        line: stage.line,
        instruction: "FROM",
        message,
    };
    let vars = globals.vars();
    let base = words::process_word(&stage.base, &vars, escape).map_err(|e| err(e.0))?;
    if base.is_empty() {
        return Err(err(format!(
            "base name ({}) should not be blank",
            stage.base
        )));
    }
    let platform = stage
        .platform
        .as_ref()
        .map(|p| words::process_word(p, &vars, escape))
        .transpose()
        .map_err(|e| err(e.0))?;
    Ok(Evaluated { base, platform })
}

/// Walks a stage's steps: updates `config` for the metadata instructions and the scope for
/// `ARG`/`ENV`, and calls `on_step` with each step and the scope it sees (the builder runs
/// `RUN`, `COPY` and `ADD` there, and keys its cache on them). Returns the `--build-arg`s the
/// stage used.
pub fn walk<E: From<BuildError>>(
    stage: &Stage,
    config: &mut ImageConfig,
    globals: &Scope,
    inputs: &BuildInputs,
    file: &str,
    escape: char,
    on_step: &mut dyn FnMut(&Step, &Scope, &ImageConfig) -> Result<(), E>,
) -> Result<BTreeSet<String>, E> {
    let mut scope = Scope::default();
    // The base image's ENV is seen from the start.
    for e in config.env.iter().flatten() {
        let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
        scope.env.insert(k.to_string(), v.to_string());
    }
    // A CMD inherited from the base is reset by an ENTRYPOINT; one set here is kept.
    let mut cmd_set_here = false;
    for step in &stage.steps {
        let err = |message: String| BuildError::Instruction {
            file: file.to_string(),
            line: step.line,
            instruction: step.instruction.keyword(),
            message,
        };
        let word = |w: &str, scope: &Scope| {
            words::process_word(w, &scope.vars(), escape).map_err(|e| err(e.0))
        };
        match &step.instruction {
            Instruction::Arg(decls) => {
                for d in decls {
                    declare(&mut scope, d, inputs, Some(globals), escape).map_err(err)?;
                }
            }
            Instruction::Env(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (word(k, &scope)?, word(v, &scope)?);
                    let env = config.env.get_or_insert_with(Vec::new);
                    let prefix = format!("{k}=");
                    env.retain(|e| !e.starts_with(&prefix) && *e != k);
                    env.push(format!("{k}={v}"));
                    scope.env.insert(k, v);
                }
            }
            Instruction::Label(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (word(k, &scope)?, word(v, &scope)?);
                    config.labels.get_or_insert_with(BTreeMap::new).insert(k, v);
                }
            }
            Instruction::Maintainer(_) => {}
            Instruction::Workdir(w) => {
                let dir = word(w, &scope)?;
                config.working_dir = if dir.starts_with('/') {
                    clean_abs(&dir)
                } else {
                    let base = if config.working_dir.is_empty() {
                        "/"
                    } else {
                        &config.working_dir
                    };
                    clean_abs(&format!("{base}/{dir}"))
                };
            }
            Instruction::User(u) => config.user = word(u, &scope)?,
            Instruction::Expose(specs) => {
                let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for spec in specs {
                    for w in
                        words::process_words(spec, &scope.vars(), escape).map_err(|e| err(e.0))?
                    {
                        for port in expand_port(&w).map_err(err)? {
                            ports.insert(port, serde_json::json!({}));
                        }
                    }
                }
            }
            Instruction::Volume(paths) => {
                let volumes = config.volumes.get_or_insert_with(BTreeMap::new);
                for p in paths {
                    let v = word(p, &scope)?;
                    if v.is_empty() {
                        return Err(
                            err("VOLUME specified can not be an empty string".into()).into()
                        );
                    }
                    volumes.insert(v, serde_json::json!({}));
                }
            }
            Instruction::Stopsignal(s) => config.stop_signal = Some(word(s, &scope)?),
            Instruction::Cmd(c) => {
                config.cmd = Some(command_vec(c, config));
                cmd_set_here = true;
            }
            Instruction::Entrypoint(c) => {
                config.entrypoint = Some(command_vec(c, config));
                if !cmd_set_here {
                    config.cmd = None;
                }
            }
            Instruction::Shell(argv) => {
                if argv.is_empty() {
                    return Err(err("SHELL requires at least one argument".into()).into());
                }
                config.shell = Some(argv.clone());
            }
            Instruction::Healthcheck { flags, test } => {
                config.healthcheck = Some(healthcheck(flags, test.as_ref()).map_err(err)?);
            }
            Instruction::Onbuild(text) => {
                let trigger = text
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(
                        err(format!("{trigger} isn't allowed as an ONBUILD trigger")).into(),
                    );
                }
                config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(text.clone());
            }
            Instruction::Run { .. } | Instruction::Copy(_) | Instruction::Add(_) => {}
        }
        on_step(step, &scope, config)?;
    }
    Ok(scope.used)
}

/// The `--build-arg`s no stage built and no global `ARG` declared (nor a proxy variable).
pub fn unused_build_args(
    inputs: &BuildInputs,
    used: &BTreeSet<String>,
    globals: &[ArgDecl],
) -> Vec<String> {
    inputs
        .build_args
        .keys()
        .filter(|k| {
            !used.contains(*k)
                && !PROXY_ARGS.contains(&k.as_str())
                && !globals.iter().any(|g| &g.name == *k)
        })
        .cloned()
        .collect()
}

/// Shell form runs through the `SHELL` (default `/bin/sh -c`); exec form as written.
fn command_vec(c: &Command, config: &ImageConfig) -> Vec<String> {
    match c {
        Command::Exec(argv) => argv.clone(),
        Command::Shell(line) => {
            let mut argv = config
                .shell
                .clone()
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            argv.push(line.clone());
            argv
        }
    }
}

/// `HEALTHCHECK`'s config (Docker's shape: `Test`, and the durations in nanoseconds).
fn healthcheck(flags: &[Flag], test: Option<&Command>) -> Result<serde_json::Value, String> {
    let Some(test) = test else {
        return Ok(serde_json::json!({ "Test": ["NONE"] }));
    };
    let test: Vec<String> = match test {
        Command::Exec(argv) => {
            let mut t = vec!["CMD".to_string()];
            t.extend(argv.iter().cloned());
            t
        }
        Command::Shell(line) => vec!["CMD-SHELL".into(), line.clone()],
    };
    let mut out = serde_json::json!({ "Test": test });
    for f in flags {
        let value = f.value.as_deref().unwrap_or("");
        let key = match f.name.as_str() {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| format!("invalid --retries value {value:?}"))?;
                if n < 0 {
                    return Err("--retries cannot be negative".into());
                }
                out["Retries"] = serde_json::json!(n);
                continue;
            }
            other => return Err(format!("unknown flag: --{other}")),
        };
        let ns = berth_api_types::shorthand::duration::parse_duration(value)
            .map_err(|e| e.to_string())?;
        out[key] = serde_json::json!(ns);
    }
    Ok(out)
}

/// `80`, `53/udp`, `8000-8002` as Docker's `port/proto` keys, ranges expanded.
fn expand_port(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("invalid containerPort: {spec}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!("invalid range: {spec}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// An absolute path cleaned (`/a/./b/../c/` is `/a/c`).
fn clean_abs(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    #[test]
    fn platforms_parse_with_gos_names_and_match_the_host() {
        let host = linux_amd64();
        let p = Platform::parse("linux/x86_64", "amd64").unwrap();
        assert!(p.runs_on(&host));
        assert_eq!(Platform::parse("linux", "amd64").unwrap(), host);
        let arm = Platform::parse("linux/arm/v7", "amd64").unwrap();
        assert_eq!(arm.spec(), "linux/arm/v7");
        assert!(!arm.runs_on(&host));
        assert!(
            !Platform::parse("windows/amd64", "amd64")
                .unwrap()
                .runs_on(&host)
        );
        assert!(Platform::parse("linux/a/b/c", "amd64").is_err());
        assert!(Platform::parse("", "amd64").is_err());
    }

    fn linux_amd64() -> Platform {
        Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
        }
    }

    fn inputs(args: &[(&str, &str)]) -> BuildInputs {
        BuildInputs {
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            target: linux_amd64(),
            build: linux_amd64(),
        }
    }

    /// Evaluates the last stage of `text`; returns the config, the base and what each RUN saw.
    fn eval(text: &str, args: &[(&str, &str)]) -> (ImageConfig, String, Vec<Vars>, Vec<String>) {
        let df = parse("Dockerfile", text).unwrap();
        let inputs = inputs(args);
        let globals = global_scope(&df.global_args, &inputs, df.escape).unwrap();
        let stage = df.stages.last().unwrap();
        let from = evaluate_from(stage, &globals, "Dockerfile", df.escape).unwrap();
        let mut config = ImageConfig::default();
        let mut runs = Vec::new();
        let used = walk(
            stage,
            &mut config,
            &globals,
            &inputs,
            "Dockerfile",
            df.escape,
            &mut |step, scope, _| -> Result<()> {
                if matches!(step.instruction, Instruction::Run { .. }) {
                    runs.push(scope.vars());
                }
                Ok(())
            },
        )
        .unwrap();
        let unused = unused_build_args(&inputs, &used, &df.global_args);
        (config, from.base, runs, unused)
    }

    #[test]
    fn global_args_reach_from_lines_and_stages_only_when_redeclared() {
        let text = "ARG TAG=1.36\nARG OTHER=x\nFROM busybox:${TAG}\nRUN a\nARG TAG\nRUN b\n";
        let (_, base, runs, _) = eval(text, &[]);
        assert_eq!(base, "busybox:1.36");
        assert!(!runs[0].contains_key("TAG"), "not redeclared yet");
        assert_eq!(runs[1]["TAG"], "1.36", "redeclared: the global value");
        assert!(!runs[1].contains_key("OTHER"));
        let (_, base, runs, unused) = eval(text, &[("TAG", "1.37"), ("NOPE", "1")]);
        assert_eq!(base, "busybox:1.37");
        assert_eq!(runs[1]["TAG"], "1.37");
        assert_eq!(unused, ["NOPE"]);
    }

    #[test]
    fn build_args_defaults_env_precedence_and_platform_args() {
        let text = "FROM scratch\nARG A=def\nARG B=${A}-b\nENV A=env\nARG TARGETARCH\nRUN x\n";
        let (config, _, runs, unused) = eval(text, &[("HTTP_PROXY", "http://p")]);
        assert_eq!(runs[0]["A"], "env", "ENV wins over ARG");
        assert_eq!(runs[0]["B"], "def-b");
        assert_eq!(runs[0]["TARGETARCH"], "amd64");
        assert_eq!(config.env, Some(vec!["A=env".to_string()]));
        assert!(unused.is_empty(), "proxy variables need no ARG: {unused:?}");
        let (_, _, runs, _) = eval(text, &[("A", "given")]);
        assert_eq!(runs[0]["B"], "given-b");
    }

    #[test]
    fn metadata_instructions_make_the_config() {
        let text = "FROM scratch\n\
            ENV PATH=/bin NAME=berth\n\
            LABEL org.x=\"${NAME} label\" other=1\n\
            WORKDIR /app\nWORKDIR sub/../src\n\
            USER ${NAME}:users\n\
            EXPOSE 80 53/udp 8000-8001\n\
            VOLUME [\"/data\", \"/${NAME}\"]\n\
            STOPSIGNAL SIGQUIT\n\
            SHELL [\"/bin/bash\", \"-c\"]\n\
            CMD echo hi\n\
            ENTRYPOINT [\"/entry\"]\n\
            HEALTHCHECK --interval=30s --retries=3 CMD curl -f localhost\n\
            ONBUILD RUN echo child\n";
        let (c, _, _, _) = eval(text, &[]);
        assert_eq!(
            c.env,
            Some(vec!["PATH=/bin".to_string(), "NAME=berth".to_string()])
        );
        let labels = c.labels.unwrap();
        assert_eq!(labels["org.x"], "berth label");
        assert_eq!(c.working_dir, "/app/src");
        assert_eq!(c.user, "berth:users");
        let ports: Vec<&String> = c.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let vols: Vec<&String> = c.volumes.as_ref().unwrap().keys().collect();
        assert_eq!(vols, ["/berth", "/data"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(
            c.cmd,
            Some(vec!["/bin/bash".into(), "-c".into(), "echo hi".into()]),
            "shell form through SHELL; kept by the later ENTRYPOINT as it was set here"
        );
        assert_eq!(c.entrypoint, Some(vec!["/entry".to_string()]));
        let h = c.healthcheck.unwrap();
        assert_eq!(
            h["Test"],
            serde_json::json!(["CMD-SHELL", "curl -f localhost"])
        );
        assert_eq!(h["Interval"], 30_000_000_000i64);
        assert_eq!(h["Retries"], 3);
        assert_eq!(c.on_build, Some(vec!["RUN echo child".to_string()]));
    }

    #[test]
    fn an_entrypoint_resets_an_inherited_cmd() {
        let df = parse("Dockerfile", "FROM base\nENTRYPOINT [\"/e\"]\n").unwrap();
        let inputs = inputs(&[]);
        let globals = global_scope(&df.global_args, &inputs, '\\').unwrap();
        let mut config = ImageConfig {
            cmd: Some(vec!["sh".into()]),
            ..ImageConfig::default()
        };
        walk(
            &df.stages[0],
            &mut config,
            &globals,
            &inputs,
            "Dockerfile",
            '\\',
            &mut |_, _, _| -> Result<()> { Ok(()) },
        )
        .unwrap();
        assert_eq!(config.cmd, None);
    }

    #[test]
    fn bad_values_say_where() {
        let df = parse("Dockerfile", "FROM scratch\nEXPOSE 99999\n").unwrap();
        let inputs = inputs(&[]);
        let globals = global_scope(&df.global_args, &inputs, '\\').unwrap();
        let err = walk(
            &df.stages[0],
            &mut ImageConfig::default(),
            &globals,
            &inputs,
            "Dockerfile",
            '\\',
            &mut |_, _, _| -> Result<()> { Ok(()) },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile:2: EXPOSE: invalid containerPort: 99999"
        );
        let df = parse("Dockerfile", "ARG V\nFROM ${V:?needed}\nFROM ${V}\n").unwrap();
        let globals = global_scope(&df.global_args, &inputs, '\\').unwrap();
        let err = evaluate_from(&df.stages[0], &globals, "Dockerfile", '\\').unwrap_err();
        assert_eq!(err.to_string(), "Dockerfile:2: FROM: V: needed");
        let err = evaluate_from(&df.stages[1], &globals, "Dockerfile", '\\').unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile:3: FROM: base name (${V}) should not be blank"
        );
    }
}
