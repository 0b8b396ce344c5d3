//! `image bootstrap`: a Debian base image made from the archive's signed packages with
//! Debian's `debootstrap`, reproducibly, and imported through the API.
//!
//! The archive's signatures are always checked (against `debian-archive-keyring`, never with
//! `--no-check-gpg`). What differs between two runs over the same package versions is taken
//! out: apt's lists and caches, logs, the host's `resolv.conf` and `hostname`, the machine id,
//! device nodes; every mtime is clamped to `SOURCE_DATE_EPOCH` (by default the date of the
//! suite's `Release` file) and the tar is written in sorted order with numeric owners, so the
//! layer's digest depends on the packages alone.

use crate::args::BootstrapArgs;
use crate::autostart::Target;
use crate::output;
use crate::progress;
use anyhow::{Context, Result, bail};
use berth_client::body::Body;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian keeps the archive keys.
const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// The mirror when the host's apt configuration names none.
const FALLBACK_MIRROR: &str = "http://deb.debian.org/debian";

/// The first `deb` mirror in apt's configuration (one-line `.list` files and deb822
/// `.sources`), preferring one that serves `suite`; security and update suites are skipped.
pub fn mirror_from_apt(files: &[(String, String)], suite: &str) -> Option<String> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    for (name, text) in files {
        if name.ends_with(".sources") {
            for block in text.split("\n\n") {
                let field = |key: &str| {
                    block.lines().find_map(|l| {
                        l.strip_prefix(key)
                            .and_then(|r| r.strip_prefix(':'))
                            .map(|v| v.trim().to_string())
                    })
                };
                let enabled = field("Enabled").is_none_or(|v| v != "no");
                if enabled
                    && field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"))
                {
                    let suites = field("Suites").unwrap_or_default();
                    for uri in field("URIs").unwrap_or_default().split_whitespace() {
                        found.push((
                            uri.to_string(),
                            suites.split_whitespace().map(str::to_string).collect(),
                        ));
                    }
                }
            }
        } else {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                let mut words = line.split_whitespace().peekable();
                if words.next() != Some("deb") {
                    continue;
                }
                if words.peek().is_some_and(|w| w.starts_with('[')) {
                    for w in words.by_ref() {
                        if w.ends_with(']') {
                            break;
                        }
                    }
                }
                if let (Some(uri), Some(s)) = (words.next(), words.next()) {
                    found.push((uri.to_string(), vec![s.to_string()]));
                }
            }
        }
    }
    let plain = |s: &str| !s.contains("security") && !s.contains('-') || s == suite;
    found
        .iter()
        .find(|(_, suites)| suites.iter().any(|s| s == suite))
        .or_else(|| {
            found
                .iter()
                .find(|(u, suites)| !u.contains("security") && suites.iter().any(|s| plain(s)))
        })
        .map(|(u, _)| u.trim_end_matches('/').to_string())
}

/// The host's apt source files.
fn apt_files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        out.push(("sources.list".into(), t));
    }
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if (name.ends_with(".list") || name.ends_with(".sources"))
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                out.push((name, t));
            }
        }
    }
    out
}

/// `Package=Version` of every installed package, from dpkg's status file, sorted.
pub fn installed_packages(status: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let field = |key: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
        };
        if field("Status").is_some_and(|s| s.ends_with(" installed"))
            && let (Some(p), Some(v)) = (field("Package"), field("Version"))
        {
            out.push(format!("{p}={v}"));
        }
    }
    out.sort();
    out
}

/// The `Date:` of a `Release` file as Unix seconds (`Sat, 10 May 2025 10:07:43 UTC`).
pub fn release_date(release: &str) -> Option<i64> {
    let date = release.lines().find_map(|l| l.strip_prefix("Date: "))?;
    let format = time::format_description::well_known::Rfc2822;
    let normalised = date.trim().replace(" UTC", " +0000");
    time::OffsetDateTime::parse(&normalised, &format)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Removes what makes two bootstraps of the same packages differ.
fn scrub(root: &Path) -> Result<()> {
    let remove_children = |dir: &str| {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            for e in rd.flatten() {
                let p = e.path();
                let _ = if p.is_dir() && !p.is_symlink() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    };
    for dir in [
        "var/lib/apt/lists",
        "var/cache/apt",
        "var/log",
        "tmp",
        "var/tmp",
        "dev",
        "run",
    ] {
        remove_children(dir);
    }
    for file in [
        "etc/resolv.conf",
        "etc/hostname",
        "var/cache/ldconfig/aux-cache",
        "var/cache/debconf/config.dat-old",
        "var/cache/debconf/templates.dat-old",
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/diversions-old",
        "var/lib/dpkg/statoverride-old",
        "etc/passwd-",
        "etc/group-",
        "etc/shadow-",
        "etc/gshadow-",
    ] {
        let _ = std::fs::remove_file(root.join(file));
    }
    // Empty, as in Docker's Debian images: systemd makes one at first boot.
    std::fs::write(root.join("etc/machine-id"), "").context("clearing etc/machine-id")?;
    std::fs::create_dir_all(root.join("var/lib/apt/lists/partial"))?;
    std::fs::create_dir_all(root.join("var/cache/apt/archives/partial"))?;
    Ok(())
}

/// Writes `root` as a tar: entries sorted, numeric owners, mtimes clamped to `epoch`.
fn write_tar(root: &Path, epoch: i64, out: &mut dyn Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    fn walk<W: Write>(root: &Path, rel: &Path, epoch: i64, b: &mut tar::Builder<W>) -> Result<()> {
        let dir = root.join(rel);
        let mut names: Vec<_> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let child = rel.join(&name);
            let path = root.join(&child);
            let md = std::fs::symlink_metadata(&path)?;
            let ft = md.file_type();
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
            h.set_mtime(md.mtime().clamp(0, epoch.max(0)) as u64);
            h.set_uid(u64::from(md.uid()));
            h.set_gid(u64::from(md.gid()));
            let _ = h.set_username("");
            let _ = h.set_groupname("");
            if ft.is_dir() {
                b.append_data(&mut h, &child, std::io::empty())?;
                walk(root, &child, epoch, b)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path)?;
                h.set_size(0);
                b.append_link(&mut h, &child, target)?;
            } else if ft.is_file() {
                let f = std::fs::File::open(&path)?;
                b.append_data(&mut h, &child, f)?;
            }
            // Sockets, fifos and devices are left out (a container gets its own /dev).
        }
        Ok(())
    }
    walk(root, Path::new(""), epoch, &mut b)?;
    b.finish()?;
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// `image bootstrap`.
pub async fn bootstrap(target: &Target, args: BootstrapArgs) -> Result<()> {
    berth_common::Reference::parse(&args.reference).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(debootstrap) = which("debootstrap") else {
        bail!(
            "debootstrap is not installed: install Debian's debootstrap package (apt-get install debootstrap)"
        );
    };
    let keyring = args
        .keyring
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_KEYRING));
    if !keyring.is_file() {
        bail!(
            "the archive keyring {} is missing: install the debian-archive-keyring package",
            keyring.display()
        );
    }
    let mirror = match &args.mirror {
        Some(m) => m.trim_end_matches('/').to_string(),
        None => {
            mirror_from_apt(&apt_files(), &args.suite).unwrap_or_else(|| FALLBACK_MIRROR.into())
        }
    };
    let work = tempfile::Builder::new()
        .prefix("berth-bootstrap-")
        .tempdir()?;
    let rootfs = work.path().join("rootfs");
    let mut cmd = Command::new(&debootstrap);
    cmd.arg(format!("--variant={}", args.variant))
        .arg(format!("--keyring={}", keyring.display()))
        .arg("--force-check-gpg");
    if !args.include.is_empty() {
        cmd.arg(format!("--include={}", args.include.join(",")));
    }
    cmd.arg(&args.suite).arg(&rootfs).arg(&mirror);
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        cmd.env("SOURCE_DATE_EPOCH", epoch);
    }
    if !args.quiet {
        output::print(&format!(
            "debootstrap {} {} from {mirror}\n",
            args.variant, args.suite
        ))?;
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .context("running debootstrap")?;
    if !out.status.success() {
        let log =
            std::fs::read_to_string(rootfs.join("debootstrap/debootstrap.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(8).collect();
        bail!(
            "debootstrap failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end(),
            if tail.is_empty() {
                String::new()
            } else {
                format!(
                    "\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            }
        );
    }
    let release = std::fs::read_dir(rootfs.join("var/lib/apt/lists"))
        .ok()
        .and_then(|rd| {
            rd.flatten()
                .find(|e| e.file_name().to_string_lossy().ends_with("_Release"))
                .and_then(|e| std::fs::read_to_string(e.path()).ok())
        })
        .unwrap_or_default();
    let epoch = match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(e) => e,
        None => release_date(&release).context("the suite's Release file has no Date")?,
    };
    let status = std::fs::read_to_string(rootfs.join("var/lib/dpkg/status"))
        .context("reading dpkg's status")?;
    let packages = installed_packages(&status);
    scrub(&rootfs)?;
    let (writer, reader) = tokio::io::duplex(1 << 20);
    let tree = rootfs.clone();
    let producer = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut sink = tokio_util::io::SyncIoBridge::new(writer);
        write_tar(&tree, epoch, &mut sink)?;
        sink.flush()?;
        Ok(())
    });
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let changes = vec![
        format!(
            "LABEL org.debian.suite={} org.debian.variant={} org.debian.mirror={} org.debian.packages={} org.opencontainers.image.created={}",
            quote(&args.suite),
            quote(&args.variant),
            quote(&mirror),
            quote(&packages.join(" ")),
            quote(&berth_common::time::format_seconds(epoch)),
        ),
        "CMD [\"bash\"]".to_string(),
    ];
    let client = target.connect().await?;
    let stream = client
        .image_import(
            Body::tar_reader(reader),
            Some(&args.reference),
            None,
            Some(&format!(
                "debootstrap --variant={} {} {mirror}",
                args.variant, args.suite
            )),
            &changes,
        )
        .await?;
    let shown = progress::show(stream, false);
    let (shown, produced) = tokio::join!(shown, producer);
    produced.context("writing the root file system")??;
    shown?;
    if !args.quiet {
        output::print(&format!(
            "{} packages, SOURCE_DATE_EPOCH={epoch}\n",
            packages.len()
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_comes_from_apt_in_either_format() {
        let deb822 = "Types: deb\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\n";
        let files = vec![("debian.sources".to_string(), deb822.to_string())];
        assert_eq!(
            mirror_from_apt(&files, "bookworm").as_deref(),
            Some("http://deb.example/debian")
        );
        let list = "# comment\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian/ trixie main\n";
        let files = vec![("sources.list".to_string(), list.to_string())];
        assert_eq!(
            mirror_from_apt(&files, "trixie").as_deref(),
            Some("http://one.example/debian")
        );
        assert_eq!(mirror_from_apt(&[], "bookworm"), None);
    }

    #[test]
    fn packages_and_release_dates_are_read() {
        let status = "Package: a\nStatus: install ok installed\nVersion: 1.0\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 2\n\nPackage: b\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2:3.1-4\n";
        assert_eq!(installed_packages(status), ["a=1.0", "b=2:3.1-4"]);
        assert_eq!(
            release_date("Origin: Debian\nDate: Sat, 10 May 2025 10:07:43 UTC\n"),
            Some(1_746_871_663)
        );
    }

    #[test]
    fn the_tar_is_sorted_with_clamped_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("b/z"), "z").unwrap();
        std::fs::write(dir.path().join("a"), "a").unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("c")).unwrap();
        let mut one = Vec::new();
        write_tar(dir.path(), 1000, &mut one).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("a"))
            .unwrap();
        f.set_modified(std::time::SystemTime::now()).unwrap();
        let mut two = Vec::new();
        write_tar(dir.path(), 1000, &mut two).unwrap();
        assert_eq!(one, two, "an mtime after the epoch changed the tar");
        let names: Vec<String> = tar::Archive::new(&one[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a", "b", "b/z", "c"]);
    }
}
