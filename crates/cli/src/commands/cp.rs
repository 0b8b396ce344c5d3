//! `cp`: tar archives over `GET`/`PUT /containers/{id}/archive`, with Docker's rules for
//! naming the copy (`archive.PrepareArchiveCopy`): into an existing directory the source keeps
//! its name, anywhere else it takes the destination's.
//!
//! Archives are streamed both ways: a blocking thread builds or extracts the tar while the
//! async side moves the bytes, so a large directory never sits in memory.

use crate::args::CpArgs;
use crate::autostart::Target;
use crate::format::units::human_size_with_precision;
use anyhow::{Context as _, Result, anyhow, bail};
use berth_api_types::container::ContainerPathStat;
use berth_client::Body;
use std::io::{IsTerminal, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio_util::io::SyncIoBridge;

/// Docker's `splitCpArg`: `CONTAINER:PATH` names a container path; an absolute path, a path
/// without `:` or one starting with `.` (`./a:b`) is local.
pub fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

/// Docker's `SplitPathDirEntry`: the parent and the base of a cleaned path, keeping a trailing
/// `/.` as base `.` (copy a directory's contents).
pub fn split_path_dir_entry(path: &str) -> (String, String) {
    let current_dir = path == "." || path.ends_with("/.");
    let mut cleaned = clean(path);
    if current_dir && cleaned != "." && !cleaned.ends_with("/.") {
        cleaned = if cleaned == "/" {
            "/.".into()
        } else {
            format!("{cleaned}/.")
        };
    }
    match cleaned.rfind('/') {
        Some(0) => ("/".into(), cleaned[1..].to_string()),
        Some(i) => (cleaned[..i].to_string(), cleaned[i + 1..].to_string()),
        None => (".".into(), cleaned),
    }
}

/// Go's `filepath.Clean` for slash paths.
fn clean(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// True when a path asserts it is a directory (`dir/`, `dir/.`).
fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.") || path == "."
}

/// Where an archive of a source named `src_base` must be extracted for the copy to land at
/// `dst_path`, and the name its top entry must take (`None`: keep it). Mirrors
/// `archive.PrepareArchiveCopy`.
pub fn prepare_copy(
    src_base: &str,
    src_is_dir: bool,
    dst_path: &str,
    dst_exists: bool,
    dst_is_dir: bool,
) -> Result<(String, Option<String>)> {
    let (dst_dir, dst_base) = split_path_dir_entry(dst_path);
    if dst_exists && dst_is_dir {
        return Ok((dst_path.to_string(), None));
    }
    if dst_exists && src_is_dir {
        bail!("cannot copy directory");
    }
    if !dst_exists && !src_is_dir && asserts_directory(dst_path) {
        bail!("no such directory");
    }
    let rename = (src_base != dst_base).then(|| dst_base.clone());
    Ok((dst_dir, rename))
}

/// Replaces a leading path component `old` by `new` (Docker's `RebaseArchiveEntries`).
fn rebase(path: &Path, old: &str, new: &str) -> PathBuf {
    let mut comps = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir));
    match comps.next() {
        Some(Component::Normal(first)) if first == old => {
            let mut p = PathBuf::from(new);
            p.extend(comps);
            p
        }
        _ if old == "." => {
            let mut p = PathBuf::from(new);
            p.push(path);
            p
        }
        _ => path.to_path_buf(),
    }
}

/// A relative, traversal-free version of an archive path, `None` for the root entry.
fn safe_relative(path: &Path) -> Result<Option<PathBuf>> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                bail!("archive entry {} escapes the destination", path.display())
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Extracts a tar into `dst_dir`, renaming the top entry `old` to `new` when asked. Owners are
/// not restored (Docker's `NoLchown`); an existing directory is never replaced by a file.
pub fn extract(reader: impl Read, dst_dir: &Path, rename: Option<(&str, &str)>) -> Result<()> {
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    for entry in ar.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.into_owned();
        let path = match rename {
            Some((old, new)) => rebase(&raw, old, new),
            None => raw,
        };
        let Some(rel) = safe_relative(&path)? else {
            continue;
        };
        let target = dst_dir.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let kind = entry.header().entry_type();
        if !kind.is_dir() && target.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            bail!(
                "cannot overwrite directory {:?} with non-directory",
                target.display()
            );
        }
        if kind.is_hard_link() {
            let link = entry
                .link_name()?
                .ok_or_else(|| anyhow!("hard link without a target"))?
                .into_owned();
            let link = match rename {
                Some((old, new)) => rebase(&link, old, new),
                None => link,
            };
            let Some(link_rel) = safe_relative(&link)? else {
                continue;
            };
            let _ = std::fs::remove_file(&target);
            std::fs::hard_link(dst_dir.join(link_rel), &target)?;
            continue;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("extracting {}", target.display()))?;
    }
    Ok(())
}

/// Writes a tar of the local `src` whose top entry is named `name`.
pub fn build_tar(writer: impl Write, src: &Path, name: &Path, follow_top: bool) -> Result<()> {
    let mut b = tar::Builder::new(writer);
    b.follow_symlinks(false);
    let meta = if follow_top {
        std::fs::metadata(src)
    } else {
        std::fs::symlink_metadata(src)
    }
    .with_context(|| format!("lstat {}", src.display()))?;
    if meta.is_dir() {
        b.append_dir_all(name, src)?;
    } else if follow_top {
        let mut f = std::fs::File::open(src)?;
        b.append_file(name, &mut f)?;
    } else {
        b.append_path_with_name(src, name)?;
    }
    b.into_inner()?.flush()?;
    Ok(())
}

/// Counts bytes passing through a reader.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Counts bytes passing through a writer.
struct CountingWriter<W> {
    inner: W,
    count: Arc<AtomicU64>,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An absolute local path (`-` stays as is).
fn resolve_local(path: &str) -> Result<String> {
    if path == "-" || path.starts_with('/') {
        return Ok(path.to_string());
    }
    let cwd = std::env::current_dir()?;
    let mut abs = format!("{}/{path}", cwd.display());
    // Keep a trailing `/` or `/.`: they assert a directory.
    if path.ends_with('/') && !abs.ends_with('/') {
        abs.push('/');
    }
    Ok(abs)
}

fn report(quiet: bool, bytes: u64, dest: &str) {
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {dest}",
            human_size_with_precision(bytes as f64, 3)
        );
    }
}

/// `cp`.
pub async fn run(target: &Target, args: CpArgs) -> Result<()> {
    let (src_c, src_path) = split_cp_arg(&args.src);
    let (dst_c, dst_path) = split_cp_arg(&args.dest);
    match (src_c, dst_c) {
        (Some(c), None) => from_container(target, &args, c, src_path, dst_path).await,
        (None, Some(c)) => to_container(target, &args, c, src_path, dst_path).await,
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
}

async fn from_container(
    target: &Target,
    args: &CpArgs,
    container: &str,
    src_path: &str,
    dst_path: &str,
) -> Result<()> {
    let client = target.connect().await?;
    let mut src_path = src_path.to_string();
    let mut rename_from: Option<String> = None;
    if args.follow_link
        && let Ok(st) = client.container_archive_stat(container, &src_path).await
        && st.is_symlink()
    {
        let (parent, base) = split_path_dir_entry(&src_path);
        let link = if st.link_target.starts_with('/') {
            st.link_target.clone()
        } else {
            clean(&format!("{parent}/{}", st.link_target))
        };
        // The archive will be named after the link's target; rename it back to the link's name.
        rename_from = Some(base);
        src_path = link;
    }
    let (stat, body) = client.container_archive_get(container, &src_path).await?;
    if dst_path == "-" {
        let mut body = body;
        let mut out = tokio::io::stdout();
        tokio::io::copy(&mut body, &mut out).await?;
        out.flush().await?;
        return Ok(());
    }
    let dst = resolve_local(dst_path)?;
    // The daemon names the archive's top entry after the requested path's base.
    let (_, archive_base) = split_path_dir_entry(&src_path);
    let meta = std::fs::metadata(&dst);
    let (exists, is_dir) = match &meta {
        Ok(m) => (true, m.is_dir()),
        Err(_) => {
            let (parent, _) = split_path_dir_entry(&dst);
            if !Path::new(&parent).is_dir() {
                bail!("destination directory {parent:?} does not exist");
            }
            (false, false)
        }
    };
    let logical_base = rename_from.clone().unwrap_or_else(|| archive_base.clone());
    let (dir, new_name) = prepare_copy(&logical_base, stat.is_dir(), &dst, exists, is_dir)?;
    // What the top entry must become: the destination's name, or the link's own name.
    let rename = match (new_name, rename_from) {
        (Some(n), _) => Some((archive_base.clone(), n)),
        (None, Some(link)) => Some((archive_base.clone(), link)),
        (None, None) => None,
    };
    let count = Arc::new(AtomicU64::new(0));
    let reader = Counting {
        inner: SyncIoBridge::new(body),
        count: count.clone(),
    };
    let dir_path = PathBuf::from(&dir);
    tokio::task::spawn_blocking(move || {
        extract(
            reader,
            &dir_path,
            rename.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        )
    })
    .await??;
    report(args.quiet, count.load(Ordering::Relaxed), &dst);
    Ok(())
}

/// Docker refuses destinations that are neither directories nor regular files.
fn check_dest_mode(stat: &ContainerPathStat, container: &str, path: &str) -> Result<()> {
    const MODE_TYPE: u32 = 0x8f28_0000; // Go's os.ModeType minus ModeDir.
    if !stat.is_dir() && stat.mode & MODE_TYPE != 0 {
        bail!("destination \"{container}:{path}\" must be a directory or a regular file");
    }
    Ok(())
}

async fn to_container(
    target: &Target,
    args: &CpArgs,
    container: &str,
    src_path: &str,
    dst_path: &str,
) -> Result<()> {
    let client = target.connect().await?;
    let mut dst_info_path = dst_path.to_string();
    let mut stat = client.container_archive_stat(container, dst_path).await;
    if let Ok(st) = &stat
        && st.is_symlink()
    {
        let (parent, _) = split_path_dir_entry(dst_path);
        let link = if st.link_target.starts_with('/') {
            st.link_target.clone()
        } else {
            clean(&format!("{parent}/{}", st.link_target))
        };
        dst_info_path = link.clone();
        stat = client.container_archive_stat(container, &link).await;
    }
    if let Ok(st) = &stat {
        check_dest_mode(st, container, dst_path)?;
    }
    let (dst_exists, dst_is_dir) = match &stat {
        Ok(st) => (true, st.is_dir()),
        Err(_) => (false, false),
    };
    let count = Arc::new(AtomicU64::new(0));
    let (extract_dir, body) = if src_path == "-" {
        if !dst_is_dir {
            bail!("destination \"{container}:{dst_path}\" must be a directory");
        }
        (dst_info_path.clone(), Body::tar_reader(tokio::io::stdin()))
    } else {
        let src = resolve_local(src_path)?;
        let follow = args.follow_link;
        let meta = if follow {
            std::fs::metadata(&src)
        } else {
            std::fs::symlink_metadata(&src)
        }
        .with_context(|| format!("lstat {src}"))?;
        if src.ends_with('/') && !meta.is_dir() {
            bail!("lstat {src}: not a directory");
        }
        let (_, src_base) = split_path_dir_entry(&src);
        let (dir, rename) = prepare_copy(
            &src_base,
            meta.is_dir(),
            &dst_info_path,
            dst_exists,
            dst_is_dir,
        )?;
        let name = PathBuf::from(rename.unwrap_or(src_base));
        let (rd, wr) = tokio::io::duplex(256 * 1024);
        let bridge = SyncIoBridge::new(wr);
        let counter = count.clone();
        let src_path = PathBuf::from(if src.ends_with("/.") {
            src.trim_end_matches("/.").to_string()
        } else {
            src.clone()
        });
        tokio::task::spawn_blocking(move || {
            let w = CountingWriter {
                inner: bridge,
                count: counter,
            };
            if let Err(e) = build_tar(w, &src_path, &name, follow) {
                eprintln!("{e:#}");
            }
        });
        (dir, Body::tar_reader(rd))
    };
    client
        .container_archive_put(container, &extract_dir, body, true, args.archive)
        .await?;
    report(
        args.quiet,
        count.load(Ordering::Relaxed),
        &format!("{container}:{dst_info_path}"),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_args_split_like_docker() {
        assert_eq!(split_cp_arg("web:/etc/hosts"), (Some("web"), "/etc/hosts"));
        assert_eq!(split_cp_arg("/abs:path"), (None, "/abs:path"));
        assert_eq!(split_cp_arg("./file:name"), (None, "./file:name"));
        assert_eq!(split_cp_arg("local.txt"), (None, "local.txt"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
        assert_eq!(split_cp_arg("c:"), (Some("c"), ""));
    }

    #[test]
    fn path_entries_split_like_docker() {
        assert_eq!(split_path_dir_entry("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(split_path_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_path_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_path_dir_entry("/a"), ("/".into(), "a".into()));
        assert_eq!(split_path_dir_entry("b"), (".".into(), "b".into()));
        assert_eq!(clean("/a/../b/./c/"), "/b/c");
    }

    #[test]
    fn copy_naming_rules() {
        // Into an existing directory: keep the name.
        assert_eq!(
            prepare_copy("f", false, "/tmp", true, true).unwrap(),
            ("/tmp".into(), None)
        );
        // Onto an existing file: take its name.
        assert_eq!(
            prepare_copy("f", false, "/tmp/g", true, false).unwrap(),
            ("/tmp".into(), Some("g".into()))
        );
        // A directory to a new path: created under the new name.
        assert_eq!(
            prepare_copy("d", true, "/tmp/new", false, false).unwrap(),
            ("/tmp".into(), Some("new".into()))
        );
        assert_eq!(
            prepare_copy("d", true, "/tmp/f", true, false)
                .unwrap_err()
                .to_string(),
            "cannot copy directory"
        );
        assert_eq!(
            prepare_copy("f", false, "/tmp/x/", false, false)
                .unwrap_err()
                .to_string(),
            "no such directory"
        );
        assert_eq!(
            prepare_copy("f", false, "/tmp/f", false, false).unwrap(),
            ("/tmp".into(), None)
        );
    }

    #[test]
    fn tar_round_trip_with_rename() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/a.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink("sub/a.txt", src.join("link")).unwrap();
        let mut buf = Vec::new();
        build_tar(&mut buf, &src, Path::new("src"), false).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract(&buf[..], &out, Some(("src", "copy"))).unwrap();
        assert_eq!(std::fs::read(out.join("copy/sub/a.txt")).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_link(out.join("copy/link")).unwrap(),
            Path::new("sub/a.txt")
        );
        // Without a rename the entry keeps its name.
        extract(&buf[..], &out, None).unwrap();
        assert!(out.join("src/sub/a.txt").exists());
        // A file replacing a directory is refused.
        let mut buf = Vec::new();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        build_tar(&mut buf, &dir.path().join("f"), Path::new("copy"), false).unwrap();
        assert!(extract(&buf[..], &out, None).is_err());
    }

    #[test]
    fn traversal_is_refused() {
        assert!(safe_relative(Path::new("../x")).is_err());
        assert_eq!(safe_relative(Path::new("./")).unwrap(), None);
        assert_eq!(
            safe_relative(Path::new("/a/b")).unwrap(),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(
            rebase(Path::new("src/a"), "src", "dst"),
            PathBuf::from("dst/a")
        );
        assert_eq!(rebase(Path::new("./a"), ".", "dst"), PathBuf::from("dst/a"));
        assert_eq!(
            rebase(Path::new("other"), "src", "dst"),
            PathBuf::from("other")
        );
    }
}
