//! Persistent network namespaces bound to files we choose (like `ip netns add`, but under the
//! engine's root dir, e.g. `<root>/netns/<id>`), so a container's network outlives any process
//! in it and the engine can set it up before the container starts.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{UnmountFlags, mount_bind, unmount};
use rustix::thread::{LinkNameSpaceType, UnshareFlags, move_into_link_name_space, unshare_unsafe};

use crate::error::{Error, Result};

/// `NSFS_MAGIC`: the file system type of `/proc/*/ns/*` and of their bind mounts.
const NSFS_MAGIC: u64 = 0x6e73_6673;

/// An open handle on a network namespace file.
///
/// Holding it keeps the namespace alive even if the file is unmounted meanwhile; its descriptor
/// is what `setns` and `IFLA_NET_NS_FD` take.
#[derive(Debug)]
pub struct Netns {
    file: File,
    path: PathBuf,
}

impl Netns {
    /// Creates a new network namespace and binds it to `path` (which must not exist; its parent
    /// must). A short-lived thread `unshare(CLONE_NEWNET)`s and bind-mounts its
    /// `/proc/thread-self/ns/net` onto the new empty file, then exits: the mount keeps the
    /// namespace alive, and no thread of ours ever has to leave it again.
    pub fn create(path: impl AsRef<Path>) -> Result<Netns> {
        let path = path.as_ref().to_path_buf();
        let what = || format!("creating network namespace {}", path.display());
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&path)
            .map_err(|e| Error::io(what(), e))?;
        let target = path.clone();
        let bound = std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn(move || -> io::Result<()> {
                // SAFETY: only CLONE_NEWNET is unshared, never CLONE_FILES, so the descriptor
                // table stays shared and no thread can observe a file descriptor it does not
                // own. The namespace change affects this dedicated thread only, which exits
                // right after the bind mount.
                unsafe { unshare_unsafe(UnshareFlags::NEWNET) }?;
                mount_bind("/proc/thread-self/ns/net", &target)?;
                Ok(())
            })
            .map_err(|e| Error::io(what(), e))?
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        if let Err(e) = bound {
            let _ = std::fs::remove_file(&path);
            return Err(Error::io(what(), e));
        }
        Netns::open(&path)
    }

    /// Opens an existing namespace file, checking that a namespace is really bound to it (an
    /// empty file left by a crash is reported as not found rather than failing later in
    /// `setns`).
    pub fn open(path: impl AsRef<Path>) -> Result<Netns> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::NetnsNotFound(path.clone())
            } else {
                Error::io(format!("opening network namespace {}", path.display()), e)
            }
        })?;
        let fs = rustix::fs::fstatfs(&file)
            .map_err(|e| Error::io(format!("opening network namespace {}", path.display()), e))?;
        #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
        if fs.f_type as u64 != NSFS_MAGIC {
            return Err(Error::NetnsNotFound(path));
        }
        Ok(Netns { file, path })
    }

    /// Unbinds and deletes a namespace file (`umount2(MNT_DETACH)` + unlink); a missing or
    /// unmounted file is not an error, so it can be called on any clean-up path. The kernel
    /// destroys the namespace, and the container ends of its veth pairs with it, asynchronously
    /// once the last reference (a process, an open handle) goes, so this costs the caller
    /// nothing.
    pub fn remove(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let what = || format!("removing network namespace {}", path.display());
        match unmount(path, UnmountFlags::DETACH) {
            Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::io(what(), e)),
        }
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(what(), e)),
        }
    }

    /// The file the namespace is bound to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a fresh thread that has `setns`ed into this namespace and returns its result.
    /// Namespace membership is per thread, so the caller's threads are never moved; sockets
    /// created inside `f` (netlink, for instance) stay bound to the namespace after the thread
    /// is gone and may be used from anywhere.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let what = || format!("entering network namespace {}", self.path.display());
        std::thread::scope(|s| {
            let handle = std::thread::Builder::new()
                .name("berth-netns".into())
                .spawn_scoped(s, || -> io::Result<T> {
                    move_into_link_name_space(self.file.as_fd(), Some(LinkNameSpaceType::Network))?;
                    Ok(f())
                })
                .map_err(|e| Error::io(what(), e))?;
            handle
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
                .map_err(|e| Error::io(what(), e))
        })
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Opens the namespace at `path` and runs `f` inside it; see [`Netns::run_in`].
pub fn run_in<T: Send>(path: impl AsRef<Path>, f: impl FnOnce() -> T + Send) -> Result<T> {
    Netns::open(path)?.run_in(f)
}
