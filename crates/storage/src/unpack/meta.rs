//! What one archive entry carries besides its content: owner, mode, times (PAX fractions
//! included) and extended attributes, and how they are put on the extracted file.

use super::{invalid, malformed};
use crate::error::Result;
use rustix::fs::{Timespec, Timestamps};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;

/// Ownership, permissions, time and xattrs of one entry.
pub(super) struct Meta {
    /// Permission bits (with setuid, setgid and sticky).
    pub(super) mode: u32,
    /// Owner.
    pub(super) uid: u32,
    /// Group.
    pub(super) gid: u32,
    /// Modification time.
    pub(super) mtime: Timespec,
    /// Extended attributes (PAX `SCHILY.xattr.*`).
    pub(super) xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Meta {
    pub(super) fn read<R: Read>(entry: &mut tar::Entry<'_, R>, shown: &str) -> Result<Meta> {
        let header = entry.header();
        let bad = |what: &str| invalid(format!("{shown}: invalid {what} in header"));
        let mode = header.mode().map_err(|_| bad("mode"))? & 0o7777;
        let old = header.as_old();
        let id = |v: io::Result<u64>, raw: &[u8], what: &str| {
            numeric(v, raw)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v != u32::MAX)
                .ok_or_else(|| bad(what))
        };
        let uid = id(header.uid(), &old.uid, "uid")?;
        let gid = id(header.gid(), &old.gid, "gid")?;
        let secs = numeric(header.mtime(), &old.mtime)
            .and_then(|t| i64::try_from(t).ok())
            .ok_or_else(|| bad("mtime"))?;
        let mut meta = Meta {
            mode,
            uid,
            gid,
            mtime: Timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        if let Some(exts) = entry.pax_extensions().map_err(malformed)? {
            for ext in exts {
                meta.pax(&ext.map_err(malformed)?);
            }
        }
        Ok(meta)
    }

    /// Takes what the tar crate does not already apply from a PAX record.
    pub(super) fn pax(&mut self, ext: &tar::PaxExtension<'_>) {
        let key = ext.key_bytes();
        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
            // overlayfs' own metadata (redirects, opaque markers) must not be forged by a tar.
            if !name.starts_with(b"trusted.overlay.") {
                self.xattrs.push((
                    OsStr::from_bytes(name).to_os_string(),
                    ext.value_bytes().to_vec(),
                ));
            }
        } else if key == b"mtime"
            && let Some(t) = ext.value().ok().and_then(parse_pax_time)
        {
            self.mtime = t;
        }
    }

    pub(super) fn timestamps(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }
}

/// A numeric header field; blank (all NUL or spaces, as some writers leave unused fields)
/// reads as 0, like Go's `archive/tar` does.
pub(super) fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> Option<u64> {
    match parsed {
        Ok(v) => Some(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Some(0),
        Err(_) => None,
    }
}

/// Parses a PAX time (`1700000000.123456789`, possibly negative).
pub(super) fn parse_pax_time(value: &str) -> Option<Timespec> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let tv_nsec = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some(Timespec { tv_sec, tv_nsec })
}
