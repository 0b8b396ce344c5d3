//! What a `COPY` or `ADD` copies: its sources found (globs, `.dockerignore`, `--exclude`),
//! checksummed by content for the cache key, and written as the tar the step extracts.
//!
//! Sources are resolved with [`Tree`], so a symlink in the context (or in a stage's root file
//! system, for `--from`) never leads outside it; below a source, symlinks are copied as
//! symlinks. The checksum covers each entry's destination, kind, mode, size and content (not
//! its mtime), so touching a file keeps the cache and changing one byte does not.

use super::tree::{Meta, NodeKind, SourceTree};
use berth_build::ignore::{Ignore, component_matches};
use berth_common::{Digest, Sha256Writer};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A source as the instruction names it, once expanded.
#[derive(Debug, Clone)]
pub(crate) enum CopySource {
    /// A path or glob, relative to the context (or to the `--from` root).
    Path(String),
    /// A here-document, copied as a file of this name.
    Inline {
        /// The file's name.
        name: String,
        /// Its content.
        body: Vec<u8>,
    },
    /// A file `ADD` downloaded (never extracted, 0600 unless `--chmod`, as Docker does).
    Fetched {
        /// The file's name (the URL's last path segment).
        name: String,
        /// Where it was downloaded to.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// Its sha256.
        digest: Digest,
        /// The server's `Last-Modified` (Unix seconds), else 0.
        mtime: u64,
    },
}

/// One `COPY`/`ADD`, ready to plan.
#[derive(Clone)]
pub(crate) struct CopyJob<'a> {
    /// The context's `.dockerignore` (none for `--from`).
    pub ignore: Option<&'a Ignore>,
    /// `--exclude` patterns.
    pub excludes: Option<Ignore>,
    /// What to copy.
    pub sources: Vec<CopySource>,
    /// The destination, an absolute container path.
    pub dest: String,
    /// Whether the destination is a directory (it ends in `/`, there are several sources, or
    /// it is one already).
    pub dest_dir: bool,
    /// `--chown`, resolved (root otherwise).
    pub owner: (u32, u32),
    /// `--chmod`.
    pub mode: Option<u32>,
    /// `ADD`: local tar archives are extracted.
    pub unpack_archives: bool,
}

/// What goes where, and its checksum.
pub(crate) struct CopyPlan {
    entries: Vec<Entry>,
    owner: (u32, u32),
    /// Content checksum of everything copied.
    pub checksum: Digest,
}

struct Entry {
    /// Destination, relative to `/`.
    dest: String,
    kind: Kind,
    mode: u32,
    mtime: u64,
}

enum Kind {
    Dir,
    File {
        rel: String,
        size: u64,
    },
    Symlink(PathBuf),
    Inline(Vec<u8>),
    /// A downloaded file, its size and digest.
    Fetched(PathBuf, u64, Digest),
    /// A tar archive `ADD` extracts into `dest`.
    Archive(String),
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Cleans `path` relative to the root (`./a//b/` → `a`, `b`); `None` when it climbs out.
pub(super) fn clean_relative(path: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c.to_string()),
        }
    }
    Some(out)
}

fn join_rel(parts: &[String]) -> String {
    parts.join("/")
}

fn dest_join(dest: &str, name: &str) -> String {
    let d = dest.trim_matches('/');
    match (d.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => d.to_string(),
        _ => format!("{d}/{name}"),
    }
}

impl CopyJob<'_> {
    fn excluded(&self, rel: &str) -> bool {
        self.ignore.is_some_and(|i| i.excludes(rel))
            || self.excludes.as_ref().is_some_and(|i| i.excludes(rel))
    }

    /// The paths (relative to the root) a source names: itself, or what its glob matches.
    fn expand(&self, tree: &dyn SourceTree, parts: &[String]) -> Vec<String> {
        let mut found = vec![Vec::<String>::new()];
        for part in parts {
            let mut next = Vec::new();
            for base in found {
                if !has_glob(part) {
                    let mut p = base.clone();
                    p.push(part.clone());
                    next.push(p);
                    continue;
                }
                let Some(dir) = tree.resolve(&join_rel(&base), true) else {
                    continue;
                };
                for n in tree
                    .list(&dir)
                    .into_iter()
                    .filter(|n| component_matches(part, n))
                {
                    let mut p = base.clone();
                    p.push(n);
                    next.push(p);
                }
            }
            found = next;
        }
        found.into_iter().map(|p| join_rel(&p)).collect()
    }

    /// Finds every entry to copy in `tree` (the context, or a stage's mounted root) and
    /// checksums them. Errors are the user's: a source outside the root, one that matches
    /// nothing (or only ignored files).
    pub fn plan(&self, tree: &dyn SourceTree) -> Result<CopyPlan, String> {
        let mut entries = Vec::new();
        for source in &self.sources {
            match source {
                CopySource::Inline { name, body } => {
                    let dest = if self.dest_dir {
                        dest_join(&self.dest, name)
                    } else {
                        dest_join(&self.dest, "")
                    };
                    entries.push(Entry {
                        dest,
                        kind: Kind::Inline(body.clone()),
                        mode: self.mode.unwrap_or(0o644),
                        mtime: 0,
                    });
                }
                CopySource::Fetched {
                    name,
                    path,
                    size,
                    digest,
                    mtime,
                } => {
                    let dest = if self.dest_dir {
                        dest_join(&self.dest, name)
                    } else {
                        dest_join(&self.dest, "")
                    };
                    entries.push(Entry {
                        dest,
                        kind: Kind::Fetched(path.clone(), *size, digest.clone()),
                        mode: self.mode.unwrap_or(0o600),
                        mtime: *mtime,
                    });
                }
                CopySource::Path(s) => {
                    let parts = clean_relative(s)
                        .ok_or_else(|| format!("forbidden path outside the build context: {s}"))?;
                    let mut any = false;
                    for rel in self.expand(tree, &parts) {
                        if !rel.is_empty() && self.excluded(&rel) {
                            continue;
                        }
                        let Some(resolved) = tree.resolve(&rel, true) else {
                            continue;
                        };
                        let Some(meta) = tree.stat(&resolved) else {
                            continue;
                        };
                        any = true;
                        if meta.kind == NodeKind::Dir {
                            self.walk(tree, &resolved, &dest_join(&self.dest, ""), &mut entries)?;
                        } else {
                            let base = Path::new(&rel)
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            let archive = self.unpack_archives && is_archive(tree, &resolved);
                            let dest = if archive {
                                dest_join(&self.dest, "")
                            } else if self.dest_dir {
                                dest_join(&self.dest, &base)
                            } else {
                                dest_join(&self.dest, "")
                            };
                            entries.push(file_entry(&resolved, meta, dest, archive, self.mode));
                        }
                    }
                    if !any {
                        return Err(format!(
                            "\"{s}\" not found in the build context or excluded by .dockerignore"
                        ));
                    }
                }
            }
        }
        entries.sort_by(|a, b| a.dest.cmp(&b.dest));
        let checksum = checksum(tree, &entries, self.owner).map_err(|e| e.to_string())?;
        Ok(CopyPlan {
            entries,
            owner: self.owner,
            checksum,
        })
    }

    /// Adds the contents of directory `rel` below `dest`.
    fn walk(
        &self,
        tree: &dyn SourceTree,
        rel: &str,
        dest: &str,
        out: &mut Vec<Entry>,
    ) -> Result<(), String> {
        for name in tree.list(rel) {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Some(meta) = tree.stat(&child_rel) else {
                continue;
            };
            let excluded = self.excluded(&child_rel);
            let child_dest = dest_join(dest, &name);
            if meta.kind == NodeKind::Dir {
                let take_back = self
                    .ignore
                    .is_some_and(|i| i.may_take_back_inside(&child_rel));
                if excluded && !take_back {
                    continue;
                }
                if !excluded {
                    out.push(Entry {
                        dest: child_dest.clone(),
                        kind: Kind::Dir,
                        mode: self.mode.unwrap_or(meta.mode),
                        mtime: meta.mtime,
                    });
                }
                self.walk(tree, &child_rel, &child_dest, out)?;
            } else if !excluded {
                out.push(file_entry(&child_rel, meta, child_dest, false, self.mode));
            }
        }
        Ok(())
    }
}

fn file_entry(rel: &str, meta: Meta, dest: String, archive: bool, mode: Option<u32>) -> Entry {
    let kind = match meta.kind {
        _ if archive => Kind::Archive(rel.to_string()),
        NodeKind::Symlink(target) => Kind::Symlink(target),
        NodeKind::File(size) => Kind::File {
            rel: rel.to_string(),
            size,
        },
        NodeKind::Dir => Kind::Dir,
    };
    Entry {
        dest,
        kind,
        mode: mode.unwrap_or(meta.mode),
        mtime: meta.mtime,
    }
}

/// Whether `rel` is a tar archive (plain or compressed), which `ADD` extracts.
fn is_archive(tree: &dyn SourceTree, rel: &str) -> bool {
    let Ok(f) = tree.open(rel) else {
        return false;
    };
    let Ok((_, mut decoded)) = berth_storage::unpack::decompress(f) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match decoded.read(&mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got == 512 && &head[257..262] == b"ustar"
}

/// The content checksum of `entries` (the files a tree does not know the digest of hashed in
/// parallel, one worker per core).
fn checksum(tree: &dyn SourceTree, entries: &[Entry], owner: (u32, u32)) -> io::Result<Digest> {
    let files: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.kind {
            Kind::File { rel, .. } | Kind::Archive(rel) => Some(rel.as_str()),
            _ => None,
        })
        .collect();
    let digests = hash_files(tree, &files)?;
    let mut next = digests.into_iter();
    let mut all = Sha256Writer::new(io::sink());
    writeln!(all, "owner {}:{}", owner.0, owner.1)?;
    for e in entries {
        let (kind, detail) = match &e.kind {
            Kind::Dir => ("dir", String::new()),
            Kind::File { size, .. } => (
                "file",
                format!("{size} {}", next.next().unwrap_or_default()),
            ),
            Kind::Archive(_) => ("archive", next.next().unwrap_or_default()),
            Kind::Symlink(t) => ("symlink", t.to_string_lossy().into_owned()),
            Kind::Inline(body) => ("inline", Digest::of(body).to_string()),
            Kind::Fetched(_, size, digest) => ("file", format!("{size} {}", digest.hex())),
        };
        writeln!(all, "{}\0{kind}\0{:o}\0{detail}", e.dest, e.mode)?;
    }
    Ok(all.finish().1)
}

/// sha256 of each file, in order: known digests taken as they are, the rest read and hashed
/// spread over the cores.
fn hash_files(tree: &dyn SourceTree, files: &[&str]) -> io::Result<Vec<String>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut out: Vec<Option<String>> = files.iter().map(|f| tree.known_digest(f)).collect();
    let todo: Vec<usize> = (0..files.len()).filter(|i| out[*i].is_none()).collect();
    if !todo.is_empty() {
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(todo.len());
        let next = AtomicUsize::new(0);
        let results: Vec<io::Result<Vec<(usize, String)>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let Some(&i) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else {
                                return Ok(mine);
                            };
                            let mut f = tree.open(files[i])?;
                            let mut h = Sha256Writer::new(io::sink());
                            io::copy(&mut f, &mut h)?;
                            mine.push((i, h.finish().1.to_string()));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("hashing panicked")))
                })
                .collect()
        });
        for r in results {
            for (i, d) in r? {
                out[i] = Some(d);
            }
        }
    }
    Ok(out.into_iter().map(Option::unwrap_or_default).collect())
}

impl CopyPlan {
    /// Writes the tar that makes the copy: first `missing` directories (the destination's
    /// ancestors not yet in the image, made like Docker makes them: 0755, owned by the
    /// `--chown` owner or root), then every entry.
    pub fn write_tar(
        &self,
        tree: &dyn SourceTree,
        missing: &[String],
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let mut b = tar::Builder::new(out);
        b.mode(tar::HeaderMode::Complete);
        let (uid, gid) = self.owner;
        let header = |kind: tar::EntryType, mode: u32, size: u64, mtime: u64| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_mtime(mtime);
            h.set_uid(u64::from(uid));
            h.set_gid(u64::from(gid));
            h
        };
        for dir in missing {
            let mut h = header(tar::EntryType::Directory, 0o755, 0, 0);
            b.append_data(&mut h, dir.trim_matches('/'), io::empty())?;
        }
        for e in &self.entries {
            match &e.kind {
                Kind::Dir => {
                    let mut h = header(tar::EntryType::Directory, e.mode, 0, e.mtime);
                    b.append_data(&mut h, &e.dest, io::empty())?;
                }
                Kind::File { rel, size } => {
                    let mut h = header(tar::EntryType::Regular, e.mode, *size, e.mtime);
                    let f = tree.open(rel)?;
                    b.append_data(&mut h, &e.dest, f.take(*size))?;
                }
                Kind::Inline(body) => {
                    let mut h = header(tar::EntryType::Regular, e.mode, body.len() as u64, e.mtime);
                    b.append_data(&mut h, &e.dest, &body[..])?;
                }
                Kind::Fetched(path, size, _) => {
                    let mut h = header(tar::EntryType::Regular, e.mode, *size, e.mtime);
                    b.append_data(&mut h, &e.dest, std::fs::File::open(path)?.take(*size))?;
                }
                Kind::Symlink(target) => {
                    let mut h = header(tar::EntryType::Symlink, 0o777, 0, e.mtime);
                    b.append_link(&mut h, &e.dest, target)?;
                }
                Kind::Archive(rel) => append_archive(&mut b, tree, rel, &e.dest)?,
            }
        }
        b.finish()
    }
}

/// Re-roots the entries of the archive at `path` under `dest` (`ADD x.tar.gz /opt/`), refusing
/// entries that climb out of it.
fn append_archive<W: Write>(
    b: &mut tar::Builder<W>,
    tree: &dyn SourceTree,
    path: &str,
    dest: &str,
) -> io::Result<()> {
    let f = tree.open(path)?;
    let (_, decoded) = berth_storage::unpack::decompress(f)?;
    let mut archive = tar::Archive::new(decoded);
    let reroot = |name: &Path| -> io::Result<String> {
        let parts = clean_relative(&name.to_string_lossy()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: entry {} climbs out of the destination",
                    path,
                    name.display()
                ),
            )
        })?;
        Ok(dest_join(dest, &join_rel(&parts)))
    };
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = reroot(&entry.path()?)?;
        let mut h = entry.header().clone();
        if let Some(link) = entry.link_name()?
            && h.entry_type() == tar::EntryType::Link
        {
            let target = reroot(&link)?;
            b.append_link(&mut h, &name, target)?;
            continue;
        }
        if h.entry_type() == tar::EntryType::Symlink {
            let target = entry.link_name()?.unwrap_or_default().into_owned();
            b.append_link(&mut h, &name, target)?;
            continue;
        }
        if matches!(
            h.entry_type(),
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        b.append_data(&mut h, &name, &mut entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tree::DirTree;

    fn job<'a>(ignore: Option<&'a Ignore>, sources: &[&str], dest: &str) -> CopyJob<'a> {
        CopyJob {
            ignore,
            excludes: None,
            sources: sources
                .iter()
                .map(|s| CopySource::Path(s.to_string()))
                .collect(),
            dest: dest.to_string(),
            dest_dir: dest.ends_with('/') || sources.len() > 1,
            owner: (0, 0),
            mode: None,
            unpack_archives: false,
        }
    }

    fn names(plan: &CopyPlan) -> Vec<String> {
        plan.entries.iter().map(|e| e.dest.clone()).collect()
    }

    #[test]
    fn sources_globs_ignores_and_checksums() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::write(root.join("src/a.txt"), "a").unwrap();
        std::fs::write(root.join("src/deep/b.txt"), "b").unwrap();
        std::fs::write(root.join("secret.key"), "k").unwrap();
        std::fs::write(root.join("one.md"), "1").unwrap();
        std::fs::write(root.join("two.md"), "2").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("src/link")).unwrap();

        let plan = job(None, &["src"], "/app")
            .plan(&DirTree::open(root).unwrap())
            .unwrap();
        assert_eq!(
            names(&plan),
            ["app/a.txt", "app/deep", "app/deep/b.txt", "app/link"]
        );
        let plan = job(None, &["*.md"], "/docs/")
            .plan(&DirTree::open(root).unwrap())
            .unwrap();
        assert_eq!(names(&plan), ["docs/one.md", "docs/two.md"]);
        let plan = job(None, &["one.md"], "/x")
            .plan(&DirTree::open(root).unwrap())
            .unwrap();
        assert_eq!(names(&plan), ["x"]);

        let ignore = Ignore::parse("*.key\n**/b.txt\n");
        let plan = job(Some(&ignore), &["."], "/")
            .plan(&DirTree::open(root).unwrap())
            .unwrap();
        let n = names(&plan);
        assert!(
            !n.iter()
                .any(|p| p.ends_with(".key") || p.ends_with("b.txt")),
            "{n:?}"
        );
        let err = job(Some(&ignore), &["secret.key"], "/")
            .plan(&DirTree::open(root).unwrap())
            .err()
            .unwrap();
        assert!(err.contains("excluded by .dockerignore"), "{err}");
        let err = job(None, &["../outside"], "/")
            .plan(&DirTree::open(root).unwrap())
            .err()
            .unwrap();
        assert!(err.contains("outside the build context"), "{err}");

        // Content, not mtimes, decides.
        let before = job(None, &["src"], "/app")
            .plan(&DirTree::open(root).unwrap())
            .unwrap()
            .checksum;
        let f = std::fs::File::options()
            .write(true)
            .open(root.join("src/a.txt"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            job(None, &["src"], "/app")
                .plan(&DirTree::open(root).unwrap())
                .unwrap()
                .checksum,
            before
        );
        std::fs::write(root.join("src/a.txt"), "A").unwrap();
        assert_ne!(
            job(None, &["src"], "/app")
                .plan(&DirTree::open(root).unwrap())
                .unwrap()
                .checksum,
            before
        );
    }

    #[test]
    fn a_symlinked_source_does_not_lead_out_of_the_context() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        std::fs::create_dir(&ctx).unwrap();
        std::fs::write(tmp.path().join("host-secret"), "s").unwrap();
        std::os::unix::fs::symlink("../host-secret", ctx.join("up")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("host-secret"), ctx.join("abs")).unwrap();
        for name in ["up", "abs"] {
            let err = job(None, &[name], "/x")
                .plan(&DirTree::open(&ctx).unwrap())
                .err();
            assert!(err.is_some(), "{name} resolved outside the context");
        }
    }

    #[test]
    fn archives_are_rerooted_and_refused_when_they_climb_out() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "inner/f", &b"hi"[..]).unwrap();
        std::fs::write(root.join("a.tar"), b.into_inner().unwrap()).unwrap();
        let mut j = job(None, &["a.tar"], "/opt/");
        j.unpack_archives = true;
        let plan = j.plan(&DirTree::open(root).unwrap()).unwrap();
        let mut out = Vec::new();
        plan.write_tar(&DirTree::open(root).unwrap(), &["opt".into()], &mut out)
            .unwrap();
        let mut names = Vec::new();
        for e in tar::Archive::new(&out[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(names, ["opt", "opt/inner/f"]);
    }
}
