//! A Dockerfile read into owned instructions, each with its line: the syntax is
//! `parse-dockerfile`'s (a maintained parser: directives, continuations, heredocs, JSON forms),
//! the meaning is ours (stages, `ARG`/`ENV` pairs, flags), so the builder never sees a lifetime
//! tied to the file's text and every error can say `Dockerfile:7: …`.

use crate::error::{BuildError, Result};
use crate::words;
use parse_dockerfile as pd;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The name errors use (`Dockerfile`, or what `-f` named).
    pub file: String,
    /// The escape character (`\`, or `` ` `` by the `escape` directive).
    pub escape: char,
    /// The `syntax` directive, if any (recorded; the built-in frontend is always used).
    pub syntax: Option<String>,
    /// `ARG`s before the first `FROM`: usable in `FROM` lines only (unless redeclared).
    pub global_args: Vec<ArgDecl>,
    /// The stages, in file order.
    pub stages: Vec<Stage>,
}

/// One `ARG` name with its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default (`ARG NAME=default`), unexpanded.
    pub default: Option<String>,
}

/// One `FROM` and the instructions up to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position in the file (what `COPY --from=0` names).
    pub index: usize,
    /// `AS name`, lower-cased as Docker compares stage names.
    pub name: Option<String>,
    /// The base: an image reference, `scratch`, or an earlier stage's name; unexpanded.
    pub base: String,
    /// `--platform`, unexpanded.
    pub platform: Option<String>,
    /// The `FROM` line.
    pub line: usize,
    /// The stage's instructions.
    pub steps: Vec<Step>,
}

/// An instruction and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of its keyword.
    pub line: usize,
    /// What it says.
    pub instruction: Instruction,
}

/// A `--name=value` option of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// The name, without dashes.
    pub name: String,
    /// The value (`None` for `--link`).
    pub value: Option<String>,
}

/// A command in shell form (run by the `SHELL`) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `RUN echo hi`.
    Shell(String),
    /// `RUN ["echo", "hi"]`.
    Exec(Vec<String>),
}

/// A here-document: `<<EOF` … `EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// Its text.
    pub body: String,
    /// Whether variables in it expand (an unquoted delimiter).
    pub expand: bool,
}

/// A `COPY` or `ADD` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path (or glob, or URL for `ADD`), unexpanded.
    Path(String),
    /// An inline file.
    Heredoc(Heredoc),
}

/// What `COPY` and `ADD` take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// `--from`, `--chown`, `--chmod`, `--link`, `--exclude`, …
    pub flags: Vec<Flag>,
    /// What to copy.
    pub sources: Vec<Source>,
    /// Where to, unexpanded.
    pub dest: String,
}

impl CopySpec {
    /// The value of flag `name` (the last one given).
    pub fn flag(&self, name: &str) -> Option<&str> {
        flag(&self.flags, name)
    }
}

/// One instruction, its arguments split as Docker splits them but not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `ARG` (several names allowed).
    Arg(Vec<ArgDecl>),
    /// `ENV` pairs.
    Env(Vec<(String, String)>),
    /// `LABEL` pairs.
    Label(Vec<(String, String)>),
    /// `RUN`, its flags (`--mount`, `--network`) and here-documents.
    Run {
        /// Options.
        flags: Vec<Flag>,
        /// The command.
        command: Command,
        /// Here-documents its command line opens.
        heredocs: Vec<Heredoc>,
    },
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `SHELL` (exec form only).
    Shell(Vec<String>),
    /// `COPY`.
    Copy(CopySpec),
    /// `ADD`.
    Add(CopySpec),
    /// `WORKDIR`.
    Workdir(String),
    /// `USER`.
    User(String),
    /// `EXPOSE` (each port spec as written).
    Expose(Vec<String>),
    /// `VOLUME` paths.
    Volume(Vec<String>),
    /// `STOPSIGNAL`.
    Stopsignal(String),
    /// `HEALTHCHECK` (`None`: `HEALTHCHECK NONE`).
    Healthcheck {
        /// `--interval`, `--timeout`, `--start-period`, `--start-interval`, `--retries`.
        flags: Vec<Flag>,
        /// The probe.
        test: Option<Command>,
    },
    /// `ONBUILD`, the instruction it stores (as text, as Docker records it).
    Onbuild(String),
    /// `MAINTAINER` (deprecated; a label).
    Maintainer(String),
}

impl Instruction {
    /// The keyword, as errors name it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Arg(_) => "ARG",
            Instruction::Env(_) => "ENV",
            Instruction::Label(_) => "LABEL",
            Instruction::Run { .. } => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Shell(_) => "SHELL",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck { .. } => "HEALTHCHECK",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

fn flag<'a>(flags: &'a [Flag], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|f| f.name == name)
        .map(|f| f.value.as_deref().unwrap_or(""))
}

/// Line numbers of byte offsets.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines(starts)
    }

    fn of(&self, offset: usize) -> usize {
        match self.0.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// Docker's wording for the parser's messages (`unknown instruction: RUNN`).
fn docker_message(message: &str) -> String {
    if let Some(word) = message
        .strip_prefix("unknown instruction '")
        .and_then(|w| w.strip_suffix('\''))
    {
        return format!("unknown instruction: {}", word.to_uppercase());
    }
    message.to_string()
}

/// Reads `text` (the file named `file`).
pub fn parse(file: &str, text: &str) -> Result<Dockerfile> {
    let parsed = pd::parse(text).map_err(|e| BuildError::Syntax {
        file: file.to_string(),
        line: e.line(),
        // The alternate form is the message alone (the line is ours to place).
        message: docker_message(&format!("{e:#}")),
    })?;
    let escape = parsed
        .parser_directives
        .escape
        .as_ref()
        .map_or('\\', |d| d.value.value);
    let syntax = parsed
        .parser_directives
        .syntax
        .as_ref()
        .map(|d| d.value.value.to_string());
    let lines = Lines::new(text);
    let mut reader = Reader {
        file,
        escape,
        lines: &lines,
        text,
    };
    let global_args = parsed
        .global_args()
        .map(|a| reader.arg_decls(a))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut stages = Vec::new();
    for (index, stage) in parsed.stages().enumerate() {
        let from = stage.from;
        let steps = stage
            .instructions
            .iter()
            .map(|i| reader.step(i))
            .collect::<Result<Vec<_>>>()?;
        stages.push(Stage {
            index,
            name: from.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
            base: from.image.value.to_string(),
            platform: from
                .options
                .iter()
                .find(|f| f.name.value == "platform")
                .and_then(|f| f.value.as_ref().map(|v| v.value.to_string())),
            line: lines.of(from.from.span.start),
            steps,
        });
    }
    Ok(Dockerfile {
        file: file.to_string(),
        escape,
        syntax,
        global_args,
        stages,
    })
}

struct Reader<'a> {
    file: &'a str,
    escape: char,
    lines: &'a Lines,
    text: &'a str,
}

impl Reader<'_> {
    fn error(&self, line: usize, instruction: &'static str, message: String) -> BuildError {
        BuildError::Instruction {
            file: self.file.to_string(),
            line,
            instruction,
            message,
        }
    }

    fn arg_decls(&self, a: &pd::ArgInstruction<'_>) -> Result<Vec<ArgDecl>> {
        let line = self.lines.of(a.arg.span.start);
        words::split_words(&a.arguments.value, self.escape)
            .into_iter()
            .map(|w| {
                let (name, default) = match w.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d.to_string())),
                    None => (w, None),
                };
                if name.is_empty() {
                    return Err(self.error(line, "ARG", "an ARG needs a name".into()));
                }
                Ok(ArgDecl { name, default })
            })
            .collect()
    }

    fn pairs(
        &self,
        line: usize,
        keyword: &'static str,
        rest: &str,
    ) -> Result<Vec<(String, String)>> {
        words::name_values(rest, self.escape).map_err(|e| self.error(line, keyword, e.0))
    }

    fn step(&mut self, i: &pd::Instruction<'_>) -> Result<Step> {
        let (start, instruction) = self.instruction(i)?;
        Ok(Step {
            line: self.lines.of(start),
            instruction,
        })
    }

    fn instruction(&mut self, i: &pd::Instruction<'_>) -> Result<(usize, Instruction)> {
        Ok(match i {
            pd::Instruction::Arg(a) => (a.arg.span.start, Instruction::Arg(self.arg_decls(a)?)),
            pd::Instruction::Env(e) => {
                let line = self.lines.of(e.env.span.start);
                (
                    e.env.span.start,
                    Instruction::Env(self.pairs(line, "ENV", &e.arguments.value)?),
                )
            }
            pd::Instruction::Label(l) => {
                let line = self.lines.of(l.label.span.start);
                (
                    l.label.span.start,
                    Instruction::Label(self.pairs(line, "LABEL", &l.arguments.value)?),
                )
            }
            pd::Instruction::Run(r) => (
                r.run.span.start,
                Instruction::Run {
                    flags: flags(&r.options),
                    command: command(&r.arguments),
                    heredocs: r.here_docs.iter().map(heredoc).collect(),
                },
            ),
            pd::Instruction::Cmd(c) => (c.cmd.span.start, Instruction::Cmd(command(&c.arguments))),
            pd::Instruction::Entrypoint(e) => (
                e.entrypoint.span.start,
                Instruction::Entrypoint(command(&e.arguments)),
            ),
            pd::Instruction::Shell(s) => (
                s.shell.span.start,
                Instruction::Shell(s.arguments.iter().map(|a| a.value.to_string()).collect()),
            ),
            pd::Instruction::Copy(c) => (
                c.copy.span.start,
                Instruction::Copy(copy_spec(&c.options, &c.src, &c.dest)),
            ),
            pd::Instruction::Add(a) => (
                a.add.span.start,
                Instruction::Add(copy_spec(&a.options, &a.src, &a.dest)),
            ),
            pd::Instruction::Workdir(w) => (
                w.workdir.span.start,
                Instruction::Workdir(w.arguments.value.to_string()),
            ),
            pd::Instruction::User(u) => (
                u.user.span.start,
                Instruction::User(u.arguments.value.to_string()),
            ),
            pd::Instruction::Expose(e) => (
                e.expose.span.start,
                Instruction::Expose(e.arguments.iter().map(|a| a.value.to_string()).collect()),
            ),
            pd::Instruction::Volume(v) => (
                v.volume.span.start,
                Instruction::Volume(match &v.arguments {
                    pd::JsonOrStringArray::Json(j) => {
                        j.value.iter().map(|a| a.value.to_string()).collect()
                    }
                    pd::JsonOrStringArray::String(s) => {
                        s.iter().map(|a| a.value.to_string()).collect()
                    }
                }),
            ),
            pd::Instruction::Stopsignal(s) => (
                s.stopsignal.span.start,
                Instruction::Stopsignal(s.arguments.value.to_string()),
            ),
            pd::Instruction::Healthcheck(h) => (
                h.healthcheck.span.start,
                Instruction::Healthcheck {
                    flags: flags(&h.options),
                    test: match &h.arguments {
                        pd::HealthcheckArguments::Cmd { arguments, .. } => Some(command(arguments)),
                        // `NONE`, and any form a later parser version adds.
                        _ => None,
                    },
                },
            ),
            pd::Instruction::Onbuild(o) => {
                let start = o.onbuild.span.start;
                let inner = o.instruction.as_ref();
                let (inner_start, _) = self.instruction(inner)?;
                // As Docker keeps it: the text after `ONBUILD`, up to the end of its line.
                let rest = &self.text[inner_start..];
                let end = rest.find('\n').unwrap_or(rest.len());
                (start, Instruction::Onbuild(rest[..end].trim().to_string()))
            }
            pd::Instruction::Maintainer(m) => (
                m.maintainer.span.start,
                Instruction::Maintainer(m.name.value.to_string()),
            ),
            pd::Instruction::From(f) => {
                // Stages are split before: a FROM here is a parser invariant broken.
                return Err(self.error(
                    self.lines.of(f.from.span.start),
                    "FROM",
                    "unexpected FROM inside a stage".into(),
                ));
            }
            // The parser's enum may grow: refuse what this builder does not know yet.
            #[allow(unreachable_patterns)]
            _ => {
                return Err(BuildError::Syntax {
                    file: self.file.to_string(),
                    line: 0,
                    message: "an instruction this builder does not know".into(),
                });
            }
        })
    }
}

fn flags(options: &[pd::Flag<'_>]) -> Vec<Flag> {
    options
        .iter()
        .map(|f| Flag {
            name: f.name.value.to_string(),
            value: f.value.as_ref().map(|v| v.value.to_string()),
        })
        .collect()
}

fn command(c: &pd::Command<'_>) -> Command {
    match c {
        pd::Command::Exec(args) => {
            Command::Exec(args.value.iter().map(|a| a.value.to_string()).collect())
        }
        pd::Command::Shell(s) => Command::Shell(s.value.to_string()),
        // The parser's enums are non-exhaustive; it has no other form today.
        _ => Command::Exec(Vec::new()),
    }
}

fn heredoc(h: &pd::HereDoc<'_>) -> Heredoc {
    Heredoc {
        body: h.value.to_string(),
        expand: h.expand,
    }
}

fn copy_spec(
    options: &[pd::Flag<'_>],
    src: &[pd::Source<'_>],
    dest: &pd::UnescapedString<'_>,
) -> CopySpec {
    CopySpec {
        flags: flags(options),
        sources: src
            .iter()
            .filter_map(|s| match s {
                pd::Source::Path(p) => Some(Source::Path(p.value.to_string())),
                pd::Source::HereDoc(h) => Some(Source::Heredoc(heredoc(h))),
                // Non-exhaustive upstream; no other source form exists today.
                _ => None,
            })
            .collect(),
        dest: dest.value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_steps_and_lines() {
        let text = "ARG BASE=busybox\nFROM ${BASE} AS Build\nENV A=1 B=\"x y\"\nRUN echo hi\n\nFROM scratch\nCOPY --from=build /a /b\nCMD [\"/b\"]\n";
        let df = parse("Dockerfile", text).unwrap();
        assert_eq!(
            df.global_args,
            [ArgDecl {
                name: "BASE".into(),
                default: Some("busybox".into())
            }]
        );
        assert_eq!(df.stages.len(), 2);
        let build = &df.stages[0];
        assert_eq!(
            (build.name.as_deref(), build.base.as_str(), build.line),
            (Some("build"), "${BASE}", 2)
        );
        assert_eq!(build.steps[0].line, 3);
        assert_eq!(
            build.steps[0].instruction,
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"x y\"".into())
            ])
        );
        assert_eq!(build.steps[1].line, 4);
        let last = &df.stages[1];
        assert_eq!(last.line, 6);
        let Instruction::Copy(copy) = &last.steps[0].instruction else {
            panic!("{:?}", last.steps[0]);
        };
        assert_eq!(copy.flag("from"), Some("build"));
        assert_eq!(copy.dest, "/b");
        assert_eq!(
            last.steps[1].instruction,
            Instruction::Cmd(Command::Exec(vec!["/b".into()]))
        );
    }

    #[test]
    fn a_misspelled_instruction_is_named_with_its_line() {
        let text = "FROM busybox\nRUN true\n\n\n\n\nRUNN false\n";
        let err = parse("Dockerfile", text).unwrap_err();
        assert_eq!(err.to_string(), "Dockerfile:7: unknown instruction: RUNN");
    }

    #[test]
    fn heredocs_and_the_escape_directive() {
        let text = "# escape=`\nFROM busybox\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<'X' /f\n$literal\nX\n";
        let df = parse("Dockerfile", text).unwrap();
        assert_eq!(df.escape, '`');
        let Instruction::Run { heredocs, .. } = &df.stages[0].steps[0].instruction else {
            panic!();
        };
        assert_eq!(heredocs[0].body, "echo one\necho two\n");
        assert!(heredocs[0].expand);
        let Instruction::Copy(copy) = &df.stages[0].steps[1].instruction else {
            panic!();
        };
        assert_eq!(
            copy.sources,
            [Source::Heredoc(Heredoc {
                body: "$literal\n".into(),
                expand: false
            })]
        );
    }

    #[test]
    fn an_unterminated_heredoc_is_an_error_with_a_line() {
        let err = parse("Dockerfile", "FROM busybox\nRUN <<EOF\necho\n").unwrap_err();
        let BuildError::Syntax { line, message, .. } = &err else {
            panic!("{err:?}");
        };
        assert!(*line >= 2, "{err}");
        assert!(message.contains("here-document"), "{err}");
    }

    #[test]
    fn malformed_env_says_where() {
        let err = parse("Dockerfile", "FROM busybox\nENV A=1 B\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile:2: ENV: Syntax error - can't find = in \"B\". Must be of the form: name=value"
        );
    }
}
