//! Layer 2 of Berth: Dockerfiles read and planned, before anything runs.
//!
//! The syntax comes from a maintained parser (`parse-dockerfile`: directives, continuations,
//! heredocs, JSON forms); what the instructions mean is decided here, to Docker's rules:
//! [`dockerfile`] turns the file into owned stages and steps with their lines, [`words`]
//! expands `ARG`/`ENV` variables and splits words exactly as Docker's builder does, and
//! [`stages`] picks the stages a target needs, in dependency order and in levels that may run
//! in parallel; [`config`] applies the metadata instructions to the image config with Docker's
//! `ARG`/`ENV` scoping; [`ignore`] applies `.dockerignore` as Docker does. Every error names the file and line (`Dockerfile:7: unknown instruction:
//! RUNN`). Running the steps (containers, layers, the cache) is the engine's builder, on top.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

pub mod config;
pub mod dockerfile;
mod error;
pub mod ignore;
pub mod stages;
pub mod words;

pub use dockerfile::{Dockerfile, parse};
pub use error::{BuildError, Result};
pub use stages::{Plan, plan};
