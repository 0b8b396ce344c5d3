//! Where each daemon's host resolver says it listens, for the NSS module to find: one small
//! file per daemon root in [`DIR`] (`ADDR SUFFIX PID`), written when the resolver starts and
//! removed when the daemon stops. A daemon killed without stopping leaves its file; its pid
//! then names no live process, and readers skip it (the next daemon start removes it).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The registrations of the daemons of this host.
pub const DIR: &str = "/run/berth/resolvers.d";

/// One daemon's host resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Where it answers (UDP).
    pub addr: SocketAddr,
    /// The suffix of the names it answers (`berth` for `web.berth`).
    pub suffix: String,
    /// The daemon's pid, so a dead daemon's registration is recognised.
    pub pid: u32,
}

impl Registration {
    /// The line of its file.
    pub fn line(&self) -> String {
        format!("{} {} {}\n", self.addr, self.suffix, self.pid)
    }

    /// Whether `name` (any case, a trailing dot allowed) is `<something>.<suffix>`.
    pub fn covers(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        let (n, s) = (name.len(), self.suffix.len());
        n > s + 1
            && name.as_bytes()[n - s - 1] == b'.'
            && name[n - s..].eq_ignore_ascii_case(&self.suffix)
    }

    /// Whether the daemon that wrote it still runs.
    pub fn alive(&self) -> bool {
        Path::new("/proc").join(self.pid.to_string()).exists()
    }
}

/// Parses a registration file; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Registration> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = f.next()?.parse().ok()?;
            let suffix = f.next()?.trim_matches('.').to_string();
            let pid = f.next()?.parse().ok()?;
            (!suffix.is_empty()).then_some(Registration { addr, suffix, pid })
        })
        .collect()
}

/// The file of the daemon on `root` in `dir`: named by a hash of the root path, so each root
/// has one and a restarted daemon replaces its own.
pub fn file_for(dir: &Path, root: &Path) -> PathBuf {
    // FNV-1a: stable across builds and processes (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in root.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    dir.join(format!("{h:016x}"))
}

/// Registers the resolver of the daemon on `root` (atomically: readers never see half a
/// file). The directory and file are world-readable: every process resolving names reads them.
pub fn register(dir: &Path, root: &Path, reg: &Registration) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let path = file_for(dir, root);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, reg.line())?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Removes the registration of the daemon on `root` (missing is fine).
pub fn unregister(dir: &Path, root: &Path) -> io::Result<()> {
    match std::fs::remove_file(file_for(dir, root)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes the registrations of daemons that no longer run (left by a `kill -9`).
pub fn remove_dead(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if parse(&text).iter().all(|r| !r.alive()) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The live registrations in `dir`.
pub fn all(dir: &Path) -> Vec<Registration> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().extension().is_some() {
            continue; // a file being written
        }
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            out.extend(parse(&text).into_iter().filter(Registration::alive));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_the_suffix_are_covered() {
        let r = Registration {
            addr: "127.0.0.1:53".parse().unwrap(),
            suffix: "berth".into(),
            pid: 1,
        };
        for yes in ["web.berth", "WEB.Berth.", "web.front.berth"] {
            assert!(r.covers(yes), "{yes}");
        }
        for no in [
            "berth",
            ".berth",
            "webberth",
            "web.berth.com",
            "example.org",
        ] {
            assert!(!r.covers(no), "{no}");
        }
    }

    #[test]
    fn register_parse_and_unregister() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("resolvers.d");
        let me = Registration {
            addr: "127.0.0.1:5353".parse().unwrap(),
            suffix: "berth".into(),
            pid: std::process::id(),
        };
        let path = register(&dir, Path::new("/var/lib/berth"), &me).unwrap();
        assert_eq!(all(&dir), vec![me.clone()]);
        // A dead daemon's file is skipped, then removed.
        let dead = Registration {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        register(&dir, Path::new("/tmp/other"), &dead).unwrap();
        assert_eq!(all(&dir), vec![me.clone()]);
        remove_dead(&dir);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert_eq!(parse("garbage\n127.0.0.1:53 x"), vec![]);
        unregister(&dir, Path::new("/var/lib/berth")).unwrap();
        assert!(!path.exists());
        unregister(&dir, Path::new("/var/lib/berth")).unwrap();
    }
}
