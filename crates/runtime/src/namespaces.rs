//! Namespaces: which to create with `clone`, which to join with `setns`, and in what order.
//!
//! New namespaces are created by the single `clone` that makes the container's init (one
//! process, no intermediate stages). Joined ones are opened by path in the parent and entered
//! by the child, user namespace first so the others are entered with its privileges. The pid
//! namespace is the exception: `setns` on it only affects children, so the parent enters it
//! around the `clone` ([`PidJoin`]).

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use std::os::fd::{AsRawFd, OwnedFd};

/// The `CLONE_NEW*` flag of a namespace type.
pub fn flag(typ: LinuxNamespaceType) -> libc::c_int {
    match typ {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// An existing namespace to enter, opened in the parent.
#[derive(Debug)]
pub struct Join {
    /// Its type's `CLONE_NEW*` flag.
    pub flag: libc::c_int,
    /// The open `nsfs` file.
    pub fd: OwnedFd,
    /// The path it was opened from, for error messages.
    pub path: String,
}

/// The namespace side of a container process.
#[derive(Debug, Default)]
pub struct Namespaces {
    /// `CLONE_NEW*` flags for the `clone`.
    pub clone_flags: libc::c_int,
    /// Namespaces to enter in the child, user first; never the pid namespace.
    pub join: Vec<Join>,
    /// A pid namespace to enter around the `clone`.
    pub pid: Option<Join>,
    /// Flags to `unshare` in the child after joining (used when a user namespace is joined:
    /// namespaces created by `clone` would belong to the host's user namespace instead).
    pub unshare_flags: libc::c_int,
    /// A new cgroup namespace, unshared by the child only once the parent has moved it into
    /// the container's cgroups: a cgroup namespace is rooted at the group its creator is in,
    /// so made any earlier the container would see the host's path (`/../../berth/x`)
    /// instead of `/`. (runc's nsexec waits for the same reason.)
    pub late_unshare: libc::c_int,
}

/// Opens a namespace file, checking it is one.
pub fn open(path: &str, flag: libc::c_int) -> Result<Join> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("opening namespace", path, e))?;
    Ok(Join {
        flag,
        fd: file.into(),
        path: path.to_string(),
    })
}

/// Whether `join` is the mount namespace this process is in.
fn is_own_mount_namespace(join: &Join) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = join.fd.try_clone() else {
        return false;
    };
    let theirs = std::fs::File::from(fd).metadata();
    let mine = std::fs::metadata("/proc/self/ns/mnt");
    matches!((theirs, mine), (Ok(a), Ok(b)) if (a.dev(), a.ino()) == (b.dev(), b.ino()))
}

impl Namespaces {
    /// Works out flags and opens the namespaces to join from the spec's list.
    pub fn from_spec(list: &[LinuxNamespace]) -> Result<Namespaces> {
        let mut ns = Namespaces::default();
        let joins_user = list
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        for n in list {
            let f = flag(n.typ());
            match n.path() {
                Some(path) => {
                    let join = open(&path.to_string_lossy(), f)?;
                    if f == libc::CLONE_NEWNS && is_own_mount_namespace(&join) {
                        return Err(Error::config(
                            "linux.namespaces",
                            format!(
                                "{}: joining the runtime's own mount namespace would pivot_root the host",
                                join.path
                            ),
                        ));
                    }
                    if n.typ() == LinuxNamespaceType::Pid {
                        ns.pid = Some(join);
                    } else if n.typ() == LinuxNamespaceType::User {
                        ns.join.insert(0, join);
                    } else {
                        ns.join.push(join);
                    }
                }
                None if f == libc::CLONE_NEWCGROUP => ns.late_unshare |= f,
                None if joins_user && n.typ() != LinuxNamespaceType::Pid => ns.unshare_flags |= f,
                None => ns.clone_flags |= f,
            }
        }
        Ok(ns)
    }

    /// Whether the container gets its own user namespace (so the parent writes id maps).
    pub fn new_user(&self) -> bool {
        self.clone_flags & libc::CLONE_NEWUSER != 0
    }

    /// Whether the container gets a new network namespace (whose loopback starts down).
    pub fn new_net(&self) -> bool {
        (self.clone_flags | self.unshare_flags) & libc::CLONE_NEWNET != 0
    }

    /// Unshares the namespaces that wait for the container's cgroups ([`Self::late_unshare`]).
    /// Runs in the child; allocation-free.
    pub fn enter_late(&self) -> std::io::Result<()> {
        // SAFETY: unshare with namespace flags only.
        if self.late_unshare != 0 && unsafe { libc::unshare(self.late_unshare) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether the container gets its own pid namespace.
    pub fn new_pid(&self) -> bool {
        self.clone_flags & libc::CLONE_NEWPID != 0
    }

    /// Enters the joined namespaces, then unshares the remaining ones. Runs in the child;
    /// allocation-free. Returns the index of the failing join (`join.len()` for `unshare`).
    pub fn enter(&self) -> Result<(), (usize, std::io::Error)> {
        for (i, j) in self.join.iter().enumerate() {
            // SAFETY: `fd` is an open nsfs file and `flag` its type.
            if unsafe { libc::setns(j.fd.as_raw_fd(), j.flag) } < 0 {
                return Err((i, std::io::Error::last_os_error()));
            }
        }
        // SAFETY: unshare with namespace flags only.
        if self.unshare_flags != 0 && unsafe { libc::unshare(self.unshare_flags) } < 0 {
            return Err((self.join.len(), std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// Enters a pid namespace for the next `clone` only, going back to the caller's own afterwards
/// on drop. (`setns` on a pid namespace never moves the caller itself.)
pub struct PidJoin {
    own: OwnedFd,
}

impl PidJoin {
    /// Makes children of the calling thread start in `target`.
    pub fn enter(target: &Join) -> Result<PidJoin> {
        // The thread's active namespace is where its children go by default.
        let own: OwnedFd = std::fs::File::open("/proc/thread-self/ns/pid")
            .map_err(|e| Error::io("opening", "/proc/thread-self/ns/pid", e))?
            .into();
        // SAFETY: `target.fd` is an open pid namespace file.
        if unsafe { libc::setns(target.fd.as_raw_fd(), libc::CLONE_NEWPID) } < 0 {
            return Err(Error::last_os(format!(
                "joining pid namespace {}",
                target.path
            )));
        }
        Ok(PidJoin { own })
    }
}

impl Drop for PidJoin {
    fn drop(&mut self) {
        // SAFETY: `own` is the pid namespace we came from, opened before leaving it.
        unsafe { libc::setns(self.own.as_raw_fd(), libc::CLONE_NEWPID) };
    }
}
