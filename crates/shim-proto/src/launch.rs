//! Starting `berth shim` processes: detached in their own session, and from a view of the
//! `berth` binary that no container can write.
//!
//! Every process a shim clones into a container (its init, each exec before its `execve`, the
//! `--init` reaper for the container's whole life) runs the shim's executable, and a container
//! sees it as `/proc/PID/exe`. If that were the host's `berth` file, a container allowed to
//! open it could overwrite the host's binary once no process runs it any more (the
//! CVE-2019-5736 class). So the daemon makes one [`SealedExe`] at start — a read-only detached
//! bind mount of the binary (`open_tree` + `mount_setattr`), or where the kernel lacks those, a
//! sealed memfd copy — and starts every shim through it: opening the shim's executable for
//! writing then fails with `EROFS` (or `EPERM` on the memfd), whatever capabilities the
//! container holds. The runtime also keeps those processes non-dumpable until `execve`, so a
//! default container cannot even open it.

use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// `MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV` (linux/mount.h).
const SEALED_ATTRS: u64 = 0x1 | 0x2 | 0x4;

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// How the binary was sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// A read-only detached bind mount of the file: no copy, no memory.
    ReadOnlyMount,
    /// A memfd copy with write, grow, shrink and seal seals.
    Memfd,
}

/// The `berth` binary as shims are started from it; see the module documentation.
#[derive(Debug)]
pub struct SealedExe {
    fd: OwnedFd,
    sealing: Sealing,
}

impl SealedExe {
    /// Seals `exe`: a read-only mount if the kernel allows it, a sealed memfd copy otherwise.
    pub fn new(exe: &Path) -> io::Result<SealedExe> {
        match read_only_mount(exe) {
            Ok(fd) => Ok(SealedExe {
                fd,
                sealing: Sealing::ReadOnlyMount,
            }),
            Err(_) => Ok(SealedExe {
                fd: sealed_copy(exe)?,
                sealing: Sealing::Memfd,
            }),
        }
    }

    /// The path to execute: the descriptor's magic link, valid in this process and in a child
    /// until its `execve` (the descriptor is close-on-exec, so it does not stay open in the
    /// shim).
    pub fn program(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// How the binary was sealed.
    pub fn sealing(&self) -> Sealing {
        self.sealing
    }
}

/// `open_tree(OPEN_TREE_CLONE)` of the file, then `mount_setattr` read-only, nosuid, nodev.
fn read_only_mount(exe: &Path) -> io::Result<OwnedFd> {
    use rustix::mount::{OpenTreeFlags, open_tree};
    let fd = open_tree(
        rustix::fs::CWD,
        exe,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    let attr = MountAttr {
        attr_set: SEALED_ATTRS,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid descriptor, a NUL-terminated empty path with AT_EMPTY_PATH, and a
    // mount_attr of the size passed that outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_fd().as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A memfd holding a copy of the file, sealed against every change.
fn sealed_copy(exe: &Path) -> io::Result<OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, memfd_create};
    let fd = memfd_create("berth", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    std::io::copy(&mut std::fs::File::open(exe)?, &mut file)?;
    let fd = OwnedFd::from(file);
    fcntl_add_seals(
        &fd,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    Ok(fd)
}

/// The soft open-files limit the daemon started with, before [`raise_nofile_limit`].
static ORIGINAL_NOFILE: std::sync::OnceLock<rustix::process::Rlimit> = std::sync::OnceLock::new();

/// Raises this process's soft limit on open files to its hard limit: the daemon holds a
/// connection and a pidfd per running container, and a thousand containers do not fit in the
/// usual 1024. Shims started afterwards get the original limit back (see
/// [`spawn_detached`]), so containers see the limits they would have without this.
pub fn raise_nofile_limit() -> io::Result<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::Nofile);
    let _ = ORIGINAL_NOFILE.set(current);
    let Some(hard) = current.maximum else {
        return Ok(u64::MAX);
    };
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        },
    )?;
    Ok(hard)
}

/// Spawns `cmd` in a new session (`setsid`), so neither a terminal hang-up nor the daemon's
/// process group reaches it, with the open-files limit the daemon started with.
pub fn spawn_detached(cmd: &mut Command) -> io::Result<Child> {
    let original = ORIGINAL_NOFILE.get().copied();
    // SAFETY: setsid and setrlimit are async-signal-safe system calls on values prepared
    // before the fork; nothing of the parent's memory is touched.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setsid().map_err(io::Error::from)?;
            if let Some(limit) = &original {
                rustix::process::setrlimit(rustix::process::Resource::Nofile, *limit)
                    .map_err(io::Error::from)?;
            }
            Ok(())
        });
    }
    cmd.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_copy_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("prog");
        std::fs::write(&exe, b"#!/bin/sh\necho sealed\n").unwrap();
        let fd = sealed_copy(&exe).unwrap();
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        assert_eq!(std::fs::read(&path).unwrap(), b"#!/bin/sh\necho sealed\n");
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    }

    #[test]
    fn the_sealed_binary_runs_and_refuses_writes() {
        if !rustix::process::geteuid().is_root() {
            panic!("this test needs root (it makes a detached mount)");
        }
        let sealed = SealedExe::new(Path::new("/bin/true")).unwrap();
        assert_eq!(sealed.sealing(), Sealing::ReadOnlyMount);
        let status = Command::new(sealed.program()).status().unwrap();
        assert!(status.success());
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(sealed.program())
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    }
}
