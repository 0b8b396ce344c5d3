//! `docker import --change` (and `commit --change`): Dockerfile instructions applied to an image
//! config without running a build.
//!
//! Only the instructions that edit metadata are accepted, as in Docker; anything else is an
//! error naming the instruction, so a typo never silently yields a different image. Each change
//! is read and applied by the builder's own code (`berth_build`: its parser, its expansion and
//! its config walk), so `--change 'ENV …'` and a Dockerfile's `ENV …` cannot disagree.

use crate::error::{ImageError, Result};
use berth_api_types::image::ImageConfig;
use berth_build::config::{BuildInputs, Scope};
use berth_build::dockerfile::Instruction;

/// The instructions a change may be (Docker's list, plus `SHELL` and `HEALTHCHECK`).
const ALLOWED: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies `changes` in order to `config`.
pub fn apply_changes(config: &mut ImageConfig, changes: &[String]) -> Result<()> {
    let lines: Vec<&str> = changes
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty() && !c.starts_with('#'))
        .collect();
    for line in &lines {
        let mut words = line.split_whitespace();
        let word = words.next().unwrap_or_default().to_ascii_uppercase();
        if !ALLOWED.contains(&word.as_str()) {
            return Err(ImageError::InvalidArgument(format!(
                "unknown instruction: {word}"
            )));
        }
        if words.next().is_none() {
            return Err(ImageError::InvalidArgument(format!(
                "{word} requires at least one argument"
            )));
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    // One stage of all the changes: like Docker's builder, an ENTRYPOINT then clears a CMD
    // unless a CMD came earlier in the same list.
    let text = format!("FROM scratch\n{}\n", lines.join("\n"));
    let invalid = |source| ImageError::InvalidChange { source };
    let df = berth_build::parse("--change", &text).map_err(invalid)?;
    let Some(stage) = df.stages.first() else {
        return Ok(());
    };
    if let Some(step) = stage.steps.iter().find(|s| {
        !ALLOWED.contains(&s.instruction.keyword()) || matches!(s.instruction, Instruction::Arg(_))
    }) {
        return Err(ImageError::InvalidArgument(format!(
            "unknown instruction: {}",
            step.instruction.keyword()
        )));
    }
    berth_build::config::walk::<berth_build::BuildError>(
        stage,
        config,
        &Scope::default(),
        &BuildInputs::default(),
        "--change",
        df.escape,
        &mut |_, _, _| Ok(()),
    )
    .map_err(invalid)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<ImageConfig> {
        let mut c = ImageConfig::default();
        apply_changes(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    #[test]
    fn command_forms() {
        let c = apply(&[r#"CMD ["sh", "-c", "echo hi"]"#, "ENTRYPOINT /init --flag"]).unwrap();
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/init --flag"]);
        // ENTRYPOINT first clears CMD only if CMD was not set in the list before it.
        let c = apply(&["ENTRYPOINT [\"/e\"]", "CMD x"]).unwrap();
        assert_eq!(c.cmd.unwrap(), ["/bin/sh", "-c", "x"]);
    }

    #[test]
    fn env_and_labels() {
        let c = apply(&[
            "ENV A=1 B=\"two words\"",
            "ENV C hello world",
            "env A=3",
            "LABEL a=b \"c d\"=e",
        ])
        .unwrap();
        assert_eq!(c.env.unwrap(), ["B=two words", "C=hello world", "A=3"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e");
        assert!(apply(&["ENV A"]).is_err());
    }

    #[test]
    fn paths_ports_and_others() {
        let c = apply(&[
            "WORKDIR /app",
            "WORKDIR sub",
            "USER nobody:nogroup",
            "EXPOSE 80 53/udp 8000-8001",
            "VOLUME [\"/data\", \"/logs\"]",
            "VOLUME /cache",
            "STOPSIGNAL SIGQUIT",
            "ONBUILD RUN echo hi",
        ])
        .unwrap();
        assert_eq!(c.working_dir, "/app/sub");
        assert_eq!(c.user, "nobody:nogroup");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/cache", "/data", "/logs"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.on_build.unwrap(), ["RUN echo hi"]);
        assert!(apply(&["EXPOSE 99999"]).is_err());
        assert!(apply(&["ONBUILD FROM x"]).is_err());
    }

    #[test]
    fn unknown_instructions_are_refused() {
        let e = apply(&["RUN echo"]).unwrap_err();
        assert_eq!(e.to_string(), "unknown instruction: RUN");
        assert_eq!(
            berth_common::error::HasKind::kind(&e),
            berth_common::ErrorKind::InvalidArgument
        );
        assert!(apply(&["CMD"]).is_err());
    }
}
