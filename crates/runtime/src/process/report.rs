//! The parent's reading of a child's error report.
//!
//! The child can only say which [`Step`] failed, at which index, with which errno: it must not
//! allocate, so it cannot format a message. The parent, which still has the [`Init`] it made,
//! names what failed from those numbers ([`Init::describe`]).

use super::Init;
use super::protocol::{Msg, STEPS, Step, failure_from};
use crate::error::Error;
use std::io;

impl Init {
    /// Turns a child's error report into an [`Error`].
    pub(super) fn describe(&self, msg: Msg) -> Error {
        let source = io::Error::from_raw_os_error(msg.errno);
        let i = msg.index as usize;
        let step = STEPS.iter().find(|s| **s as u32 == msg.step).copied();
        let text = match step {
            Some(Step::Sync) => "waiting for the parent".into(),
            Some(Step::Setns) => match self.ns.join.get(i) {
                Some(j) => format!("joining namespace {}", j.path),
                None => "unsharing namespaces".into(),
            },
            Some(Step::UserRoot) => "becoming root in the user namespace".into(),
            Some(Step::Hostname) => "setting the hostname".into(),
            Some(Step::Domainname) => "setting the domainname".into(),
            Some(Step::Rootfs) | Some(Step::Mounts2) => match &self.mounts {
                Some(m) => m.describe(failure_from(msg.index)),
                None => "mounting".into(),
            },
            Some(Step::Fds) => "marking inherited descriptors close-on-exec".into(),
            Some(Step::Pivot) => "pivot_root into the rootfs".into(),
            Some(Step::Sysctl) => format!(
                "writing sysctl {}",
                self.sysctls
                    .get(i)
                    .map(|(k, _)| k.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            Some(Step::Console) => "setting up the terminal".into(),
            Some(Step::Rlimit) => format!("setting rlimit {i}"),
            Some(Step::Bounding) => "dropping the capability bounding set".into(),
            Some(Step::NoNewPrivs) => "setting no_new_privs".into(),
            Some(Step::Seccomp) => "loading the seccomp filter".into(),
            Some(Step::User) => format!(
                "switching to uid {} gid {}",
                self.identity.uid, self.identity.gid
            ),
            Some(Step::Caps) => "setting capabilities".into(),
            Some(Step::Cwd) => format!("changing to the working directory {:?}", self.cwd),
            Some(Step::Gate) => "waiting for start".into(),
            Some(Step::Loopback) => "bringing up the loopback interface".into(),
            Some(Step::Cgroup) => format!(
                "joining the cgroup {}",
                self.cgroup_tasks
                    .get(i)
                    .map(|c| c.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            Some(Step::Exec) => {
                let prog = self
                    .argv
                    .first()
                    .map(|c| c.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Docker's wording, which clients match to pick exit codes 127 and 126.
                let message = match source.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) if prog.contains('/') => {
                        format!("exec: {prog:?}: stat {prog}: no such file or directory")
                    }
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                        format!("exec: {prog:?}: executable file not found in $PATH")
                    }
                    Some(libc::EACCES) => format!("exec: {prog:?}: permission denied"),
                    _ => {
                        return Error::Sys {
                            step: format!("exec {prog:?}"),
                            source,
                        };
                    }
                };
                return Error::Exec {
                    message,
                    errno: source.raw_os_error().unwrap_or_default(),
                };
            }
            None => format!("step {}", msg.step),
        };
        Error::Sys { step: text, source }
    }
}
