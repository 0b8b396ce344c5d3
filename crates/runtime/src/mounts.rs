//! The mount executor: runs a [`MountPlan`](crate::plan::MountPlan) inside the child.
//!
//! [`Prepared::new`] converts the plan to C strings in the parent; [`Prepared::setup_rootfs`]
//! and [`Prepared::finish`] run in the child without allocating. Every destination is opened
//! with `openat2(RESOLVE_IN_ROOT)` relative to the rootfs and mounted through its
//! `/proc/self/fd/N` magic link, so a symlink in the image can never redirect a mount onto the
//! host. All mounts live in the container's mount namespace: when its last process exits they
//! disappear, so nothing can leak into the host's mount table.

use crate::plan::{DeviceKind, MountPlan, Op};
use crate::sys::{self, FdPath};
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A plan step in C strings. Container paths are relative to the rootfs (no leading `/`).
#[derive(Debug)]
enum COp {
    Mount {
        source: Option<CString>,
        dest: CString,
        fstype: Option<CString>,
        flags: u64,
        data: Option<CString>,
        propagation: Vec<u64>,
        bind: bool,
        remount: bool,
        optional: bool,
    },
    Remount {
        dest: CString,
        flags: u64,
    },
    Device {
        dir: CString,
        name: CString,
        mode: libc::mode_t,
        dev: libc::dev_t,
        uid: u32,
        gid: u32,
        host: CString,
    },
    Symlink {
        dir: CString,
        name: CString,
        target: CString,
    },
}

/// The rootfs set-up, ready to run in the child.
#[derive(Debug)]
pub struct Prepared {
    rootfs: CString,
    propagation: u64,
    ops: Vec<COp>,
    masked: Vec<CString>,
    readonly: Vec<CString>,
    root_readonly: bool,
    cgroup_ops_start: Option<usize>,
}

/// Which step failed, for the parent's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Making `/` private (or as `rootfsPropagation` asks).
    Propagation,
    /// Binding the rootfs onto itself.
    RootBind,
    /// Making the mount the rootfs is on private (`pivot_root` refuses a shared parent).
    ParentPrivate,
    /// Plan op `n`.
    Op(usize),
    /// Masked path `n`.
    Mask(usize),
    /// Read-only path `n`.
    Readonly(usize),
    /// Remounting the root read-only.
    RootReadonly,
    /// Waiting for the parent to make the container's cgroups.
    CgroupWait,
}

fn cstr(bytes: &[u8]) -> CString {
    // Paths from JSON cannot contain NUL (serde rejects it in PathBuf? no: strip it to be safe).
    CString::new(
        bytes
            .iter()
            .copied()
            .filter(|b| *b != 0)
            .collect::<Vec<u8>>(),
    )
    .unwrap_or_default()
}

fn rel(path: &Path) -> CString {
    let s = path.as_os_str().as_bytes();
    let trimmed = {
        let mut s = s;
        while let [b'/', rest @ ..] = s {
            s = rest;
        }
        s
    };
    if trimmed.is_empty() {
        cstr(b".")
    } else {
        cstr(trimmed)
    }
}

fn split(path: &Path) -> (CString, CString) {
    let dir = path.parent().map(rel).unwrap_or_else(|| cstr(b"."));
    let name = path
        .file_name()
        .map(|n| cstr(n.as_bytes()))
        .unwrap_or_else(|| cstr(b"."));
    (dir, name)
}

impl Prepared {
    /// Converts `plan` for the rootfs at `rootfs` (absolute).
    pub fn new(rootfs: &Path, plan: &MountPlan) -> Prepared {
        let ops = plan
            .ops
            .iter()
            .map(|op| match op {
                Op::Mount(m) => COp::Mount {
                    source: m.source.as_ref().map(|s| cstr(s.as_os_str().as_bytes())),
                    dest: rel(&m.dest),
                    fstype: m.fstype.as_ref().map(|t| cstr(t.as_bytes())),
                    flags: m.options.flags,
                    data: (!m.options.data.is_empty()).then(|| cstr(m.options.data.as_bytes())),
                    propagation: m.options.propagation.clone(),
                    bind: m.options.bind,
                    remount: m.needs_bind_remount(),
                    optional: m.options.optional,
                },
                Op::Remount { dest, flags } => COp::Remount {
                    dest: rel(dest),
                    flags: *flags,
                },
                Op::Device(d) => {
                    let (dir, name) = split(&d.dest);
                    let kind = match d.kind {
                        DeviceKind::Char => libc::S_IFCHR,
                        DeviceKind::Block => libc::S_IFBLK,
                        DeviceKind::Fifo => libc::S_IFIFO,
                    };
                    COp::Device {
                        dir,
                        name,
                        mode: kind | d.mode as libc::mode_t,
                        dev: libc::makedev(d.major as u32, d.minor as u32),
                        uid: d.uid,
                        gid: d.gid,
                        host: cstr(d.dest.as_os_str().as_bytes()),
                    }
                }
                Op::Symlink { target, link } => {
                    let (dir, name) = split(link);
                    COp::Symlink {
                        dir,
                        name,
                        target: cstr(target.as_os_str().as_bytes()),
                    }
                }
            })
            .collect();
        let abs = |p: &std::path::PathBuf| cstr(p.as_os_str().as_bytes());
        Prepared {
            rootfs: cstr(rootfs.as_os_str().as_bytes()),
            propagation: plan.root_propagation,
            ops,
            masked: plan.masked.iter().map(abs).collect(),
            readonly: plan.readonly.iter().map(abs).collect(),
            root_readonly: plan.root_readonly,
            cgroup_ops_start: plan.cgroup_ops_start,
        }
    }

    /// The rootfs path, for `pivot_root`.
    pub fn rootfs(&self) -> &CStr {
        &self.rootfs
    }

    /// Describes a failure for the parent's error message.
    pub fn describe(&self, failure: Failure) -> String {
        let show = |c: &CStr| c.to_string_lossy().into_owned();
        match failure {
            Failure::Propagation => "making / private".into(),
            Failure::RootBind => format!("binding the rootfs {}", show(&self.rootfs)),
            Failure::Op(i) => match self.ops.get(i) {
                Some(COp::Mount {
                    source,
                    dest,
                    fstype,
                    ..
                }) => format!(
                    "mounting {} ({}) on /{}",
                    source.as_deref().map(show).unwrap_or_else(|| "none".into()),
                    fstype.as_deref().map(show).unwrap_or_else(|| "bind".into()),
                    show(dest)
                ),
                Some(COp::Remount { dest, .. }) => format!("remounting /{}", show(dest)),
                Some(COp::Device { host, .. }) => format!("creating device {}", show(host)),
                Some(COp::Symlink { dir, name, .. }) => {
                    format!("creating symlink /{}/{}", show(dir), show(name))
                }
                None => format!("mount step {i}"),
            },
            Failure::Mask(i) => format!(
                "masking {}",
                self.masked.get(i).map(|c| show(c)).unwrap_or_default()
            ),
            Failure::Readonly(i) => format!(
                "making {} read-only",
                self.readonly.get(i).map(|c| show(c)).unwrap_or_default()
            ),
            Failure::RootReadonly => "remounting the root read-only".into(),
            Failure::CgroupWait => "waiting for the container's cgroups".into(),
            Failure::ParentPrivate => "making the rootfs's parent mount private".into(),
        }
    }

    /// Pre-`pivot_root` phase: propagation, rootfs bind, then every plan op. Before the first
    /// op that binds cgroup directories, `before_cgroups` runs (the child waits there for the
    /// parent to make them). Returns an `O_PATH` fd of the rootfs for `pivot_root`.
    pub fn setup_rootfs(
        &self,
        before_cgroups: &mut dyn FnMut() -> io::Result<()>,
    ) -> Result<RawFd, (Failure, io::Error)> {
        sys::mount(None, c"/", None, self.propagation, None)
            .map_err(|e| (Failure::Propagation, e))?;
        if self.propagation & libc::MS_SHARED != 0 {
            // `rootfsPropagation: shared`: pivot_root refuses a rootfs whose parent mount is
            // shared, so that one mount goes private (as runc does); the container's root
            // gets the asked propagation back after the pivot (see `finish`).
            parent_private(&self.rootfs).map_err(|e| (Failure::ParentPrivate, e))?;
        }
        sys::mount(
            Some(&self.rootfs),
            &self.rootfs,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .map_err(|e| (Failure::RootBind, e))?;
        // SAFETY: NUL-terminated path; O_PATH open with no other side effects.
        let root = unsafe {
            libc::open(
                self.rootfs.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        let root = sys::check(root).map_err(|e| (Failure::RootBind, e))?;
        for (i, op) in self.ops.iter().enumerate() {
            if self.cgroup_ops_start == Some(i) {
                before_cgroups().map_err(|e| (Failure::CgroupWait, e))?;
            }
            run_op(root, op).map_err(|e| (Failure::Op(i), e))?;
        }
        Ok(root)
    }

    /// Post-`pivot_root` phase: masked and read-only paths, then the read-only root.
    pub fn finish(&self) -> Result<(), (Failure, io::Error)> {
        if self.propagation & libc::MS_SHARED != 0 {
            sys::mount(None, c"/", None, self.propagation, None)
                .map_err(|e| (Failure::Propagation, e))?;
        }
        for (i, path) in self.masked.iter().enumerate() {
            mask(path).map_err(|e| (Failure::Mask(i), e))?;
        }
        for (i, path) in self.readonly.iter().enumerate() {
            readonly(path).map_err(|e| (Failure::Readonly(i), e))?;
        }
        if self.root_readonly {
            let flags =
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | sys::locked_flags(c"/");
            sys::mount(None, c"/", None, flags, None).map_err(|e| (Failure::RootReadonly, e))?;
        }
        Ok(())
    }
}

/// Makes the mount that `path` lies on private: tries `path`, then each parent, until one is
/// a mount point (`EINVAL` means it is not). Allocation-free.
fn parent_private(path: &CStr) -> io::Result<()> {
    let bytes = path.to_bytes();
    let mut buf = [0u8; 4096];
    if bytes.len() >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    let mut len = bytes.len();
    loop {
        buf[len] = 0;
        let p = CStr::from_bytes_until_nul(&buf[..=len])
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        match sys::mount(None, p, None, libc::MS_PRIVATE, None) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && len > 1 => {
                // Not a mount point: up one component ("/a/b" → "/a" → "/").
                len = buf[..len]
                    .iter()
                    .rposition(|b| *b == b'/')
                    .unwrap_or(0)
                    .max(1);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `source` is a directory (binds of files need a file as mount point).
fn is_dir(source: &CStr) -> bool {
    // SAFETY: an all-zero stat is a valid out-buffer; `source` is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    let rc = unsafe { libc::stat(source.as_ptr(), &mut st) };
    rc < 0 || st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Whether a host path exists (for optional binds).
fn exists(source: &CStr) -> bool {
    // SAFETY: NUL-terminated path; `access` only reads it.
    unsafe { libc::access(source.as_ptr(), libc::F_OK) == 0 }
}

/// Opens `path` (relative) inside `root`, creating missing directories (and, with
/// `file`, the last component as an empty file) on the way. Each component is created with
/// `mkdirat` on the already resolved parent, so creation cannot escape the root either.
fn ensure(root: RawFd, path: &CStr, file: bool) -> io::Result<RawFd> {
    match sys::open_in_root(root, path, libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e),
        Err(_) => {}
    }
    let bytes = path.to_bytes();
    let mut prefix = [0u8; 4096];
    if bytes.len() >= prefix.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let mut parent = sys::check(
        // SAFETY: dup of an fd we own.
        unsafe { libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 0) },
    )?;
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|b| *b == b'/')
            .map_or(bytes.len(), |p| start + p);
        let last = end == bytes.len();
        if end > start {
            prefix[..end].copy_from_slice(&bytes[..end]);
            prefix[end] = 0;
            let prefix_c = CStr::from_bytes_until_nul(&prefix[..=end])
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            let mut name = [0u8; 256];
            let comp = &bytes[start..end];
            if comp.len() >= name.len() {
                sys::close(parent);
                return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
            }
            name[..comp.len()].copy_from_slice(comp);
            let name_c = CStr::from_bytes_until_nul(&name[..=comp.len()])
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            let next = match sys::open_in_root(root, prefix_c, libc::O_PATH) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let rc = if last && file {
                        // SAFETY: creating a file by name under an fd we own.
                        let fd = unsafe {
                            libc::openat(
                                parent,
                                name_c.as_ptr(),
                                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                                0o644,
                            )
                        };
                        if fd >= 0 {
                            sys::close(fd);
                        }
                        fd
                    } else {
                        // SAFETY: creating a directory by name under an fd we own.
                        unsafe { libc::mkdirat(parent, name_c.as_ptr(), 0o755) }
                    };
                    if rc < 0 {
                        let err = io::Error::last_os_error();
                        if err.raw_os_error() != Some(libc::EEXIST) {
                            sys::close(parent);
                            return Err(err);
                        }
                    }
                    match sys::open_in_root(root, prefix_c, libc::O_PATH) {
                        Ok(fd) => fd,
                        Err(e) => {
                            sys::close(parent);
                            return Err(e);
                        }
                    }
                }
                Err(e) => {
                    sys::close(parent);
                    return Err(e);
                }
            };
            sys::close(parent);
            parent = next;
        }
        start = end + 1;
    }
    Ok(parent)
}

fn run_op(root: RawFd, op: &COp) -> io::Result<()> {
    match op {
        COp::Mount {
            source,
            dest,
            fstype,
            flags,
            data,
            propagation,
            bind,
            remount,
            optional,
        } => {
            if *optional && source.as_deref().is_some_and(|s| !exists(s)) {
                return Ok(());
            }
            let file = *bind && source.as_deref().is_some_and(|s| !is_dir(s));
            let fd = ensure(root, dest, file)?;
            let target = FdPath::new(fd);
            let result = if *bind {
                sys::mount(
                    source.as_deref(),
                    target.as_cstr(),
                    None,
                    libc::MS_BIND | (flags & libc::MS_REC),
                    None,
                )
            } else {
                sys::mount(
                    source.as_deref(),
                    target.as_cstr(),
                    fstype.as_deref(),
                    *flags,
                    data.as_deref(),
                )
            };
            sys::close(fd);
            result?;
            if *remount || !propagation.is_empty() {
                // Re-open: the old fd names the directory under the new mount.
                let fd = sys::open_in_root(root, dest, libc::O_PATH)?;
                let target = FdPath::new(fd);
                let mut result = Ok(());
                if *remount {
                    let keep = sys::locked_flags(target.as_cstr());
                    let f = libc::MS_BIND
                        | libc::MS_REMOUNT
                        | (flags & (crate::plan::BIND_REMOUNT_FLAGS | libc::MS_REC))
                        | keep;
                    result = sys::mount(None, target.as_cstr(), None, f, None);
                }
                for p in propagation {
                    if result.is_ok() {
                        result = sys::mount(None, target.as_cstr(), None, *p, None);
                    }
                }
                sys::close(fd);
                result?;
            }
            Ok(())
        }
        COp::Remount { dest, flags } => {
            let fd = sys::open_in_root(root, dest, libc::O_PATH)?;
            let target = FdPath::new(fd);
            let result = sys::mount(None, target.as_cstr(), None, libc::MS_REMOUNT | flags, None);
            sys::close(fd);
            result
        }
        COp::Device {
            dir,
            name,
            mode,
            dev,
            uid,
            gid,
            host,
        } => {
            let dirfd = ensure(root, dir, false)?;
            let target = FdPath::new(dirfd);
            // O_PATH fds cannot be used with mknodat; open the directory for real.
            // SAFETY: opening a magic link path we built; result checked.
            let real = unsafe {
                libc::open(
                    target.as_cstr().as_ptr(),
                    libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            sys::close(dirfd);
            let real = sys::check(real)?;
            let result = make_device(real, name, *mode, *dev, *uid, *gid, host, root);
            sys::close(real);
            result
        }
        COp::Symlink { dir, name, target } => {
            let dirfd = ensure(root, dir, false)?;
            let path = FdPath::new(dirfd);
            // SAFETY: opening a magic link path we built; result checked.
            let real =
                unsafe { libc::open(path.as_cstr().as_ptr(), libc::O_DIRECTORY | libc::O_CLOEXEC) };
            sys::close(dirfd);
            let real = sys::check(real)?;
            // SAFETY: NUL-terminated strings and an fd we own.
            let rc = unsafe { libc::symlinkat(target.as_ptr(), real, name.as_ptr()) };
            sys::close(real);
            match sys::check(rc) {
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
                other => other.map(drop),
            }
        }
    }
}

/// `mknod` in `dir`; in a user namespace (`EPERM`) bind-mount the host's node instead.
#[allow(clippy::too_many_arguments)]
fn make_device(
    dir: RawFd,
    name: &CStr,
    mode: libc::mode_t,
    dev: libc::dev_t,
    uid: u32,
    gid: u32,
    host: &CStr,
    _root: RawFd,
) -> io::Result<()> {
    // SAFETY: NUL-terminated name under a directory fd we own.
    let rc = unsafe { libc::mknodat(dir, name.as_ptr(), mode, dev) };
    match sys::check(rc) {
        Ok(_) => {
            // SAFETY: as above; fixes the mode the umask trimmed and the owner.
            unsafe {
                libc::fchmodat(dir, name.as_ptr(), mode & 0o7777, 0);
                sys::check(libc::fchownat(
                    dir,
                    name.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                ))?;
            }
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            // SAFETY: creating an empty file as the bind target.
            let fd = unsafe {
                libc::openat(
                    dir,
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644,
                )
            };
            let fd = sys::check(fd)?;
            let target = FdPath::new(fd);
            let result = sys::mount(Some(host), target.as_cstr(), None, libc::MS_BIND, None);
            sys::close(fd);
            result
        }
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Hides `path`: a read-only empty tmpfs over a directory, `/dev/null` over anything else.
/// Missing paths are skipped.
fn mask(path: &CStr) -> io::Result<()> {
    // SAFETY: an all-zero stat is a valid out-buffer; `path` is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::stat(path.as_ptr(), &mut st) } < 0 {
        let err = io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ENOENT) {
            Ok(())
        } else {
            Err(err)
        };
    }
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), libc::MS_RDONLY, None)
    } else {
        sys::mount(Some(c"/dev/null"), path, None, libc::MS_BIND, None)
    }
}

/// Re-binds `path` onto itself read-only, keeping the flags the kernel locks. Missing paths
/// are skipped.
fn readonly(path: &CStr) -> io::Result<()> {
    match sys::mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        other => other?,
    }
    let flags =
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC | sys::locked_flags(path);
    sys::mount(None, path, None, flags, None)
}
