//! Errors of reading and planning a Dockerfile: each names the file and line, as Docker's do
//! (`Dockerfile:7: unknown instruction: RUNN`), so the user goes straight to the mistake.

/// What was wrong with a Dockerfile or a build request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The file does not parse (a misspelled instruction, an unterminated heredoc or quote).
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The Dockerfile's name as the user gave it.
        file: String,
        /// 1-based line of the mistake.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An instruction's arguments are malformed or a variable cannot be expanded.
    #[error("{file}:{line}: {instruction}: {message}")]
    Instruction {
        /// The Dockerfile's name.
        file: String,
        /// 1-based line of the instruction.
        line: usize,
        /// The instruction's keyword (`ENV`, `COPY`…).
        instruction: &'static str,
        /// What is wrong.
        message: String,
    },
    /// `COPY --from` or `FROM` names a stage after itself or one that depends on it.
    #[error("{file}:{line}: stage {stage:?} depends on itself: {cycle}")]
    StageCycle {
        /// The Dockerfile's name.
        file: String,
        /// Line of the `FROM` of the stage.
        line: usize,
        /// The stage.
        stage: String,
        /// The chain of stages, `a -> b -> a`.
        cycle: String,
    },
    /// `--target` names no stage.
    #[error("target stage {0:?} could not be found")]
    UnknownTarget(String),
}

/// Results of this crate.
pub type Result<T, E = BuildError> = std::result::Result<T, E>;
