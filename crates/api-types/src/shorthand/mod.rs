//! Parsers for the docker CLI's shorthand flags, shared by the CLI, compose and the engine.
//!
//! The CLI turns `-p 8080:80`, `-m 512m` or `--restart on-failure:3` into API fields, compose
//! does the same for its YAML, and the engine parses `HostConfig.Binds` (which stay in `-v`
//! syntax on the wire). Keeping one implementation here means all three agree, and the error
//! messages are Docker's own wording (with its quoting) because users and scripts know them.
//!
//! Everything here is pure: anything that needs the environment (`-e KEY` taking its value from
//! the caller's environment) takes a lookup function instead.

mod csv;
pub mod duration;
pub mod env;
pub mod mount;
pub mod port;
pub mod restart;
pub mod size;
pub mod tmpfs;
pub mod ulimit;
pub mod volume;

pub use duration::{parse_duration, parse_stop_timeout};
pub use env::{parse_env, parse_env_file, parse_label, parse_labels};
pub use mount::parse_mount;
pub use port::{PortMapping, parse_expose, parse_port_spec, parse_publish};
pub use restart::{parse_restart_policy, validate_restart_policy};
pub use size::{parse_memory_swap, parse_nano_cpus, parse_ram_bytes};
pub use tmpfs::{parse_tmpfs, tmpfs_mount_options};
pub use ulimit::{parse_ulimit, rlimit_name};
pub use volume::{VolumeSpec, parse_volume, validate_volume_name};

/// A shorthand value that could not be parsed; the message names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShorthandError(pub String);

impl ShorthandError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        ShorthandError(msg.into())
    }
}

impl berth_common::error::HasKind for ShorthandError {
    fn kind(&self) -> berth_common::ErrorKind {
        berth_common::ErrorKind::InvalidArgument
    }
}
