//! Directory-fd file operations the extractor needs: set an xattr, list, open and remove
//! entries relative to a directory, never following a symlink.

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, XattrFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::io::{self};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Sets one xattr on `dir/name` without following it, via the `/proc/self/fd` path of the
/// already-resolved directory (symlinks and devices cannot be opened for `fsetxattr`). Best
/// effort where the file system or object type does not support it.
pub(super) fn set_xattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &OsStr,
    value: &[u8],
    is_link: bool,
) -> io::Result<()> {
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    match rustix::fs::lsetxattr(&path, key, value, XattrFlags::empty()) {
        Ok(()) | Err(Errno::OPNOTSUPP) => Ok(()),
        // `user.*` attributes are not allowed on symlinks.
        Err(Errno::PERM) if is_link => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Names in a directory, `.` and `..` excluded.
pub(super) fn dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(names)
}

pub(super) fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?)
}

/// `rm -rf dir/name` through file descriptors, never following a symlink. Missing is fine.
pub(super) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => return Ok(()),
        other => other?,
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
    }
    let sub = open_subdir(dir, name)?;
    for child in dir_names(sub.as_fd())? {
        remove_all_at(sub.as_fd(), &child)?;
    }
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}
