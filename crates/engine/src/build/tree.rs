//! What a copy reads from, behind one trait: the build context (an index over the tar the
//! client sent, which is kept as one file and never unpacked) or a directory on disk (a
//! stage's mounted root file system, for `COPY --from`).
//!
//! Both resolve paths the same way: component by component, symlinks followed inside the tree
//! (`..` and absolute targets stop at its root), so no source leads out of it.

use super::session::PackReader;
use berth_storage::confined::Tree;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Symlinks followed in one resolution before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// A directory.
    Dir,
    /// A regular file of this many bytes.
    File(u64),
    /// A symlink to this target.
    Symlink(PathBuf),
}

/// A path's metadata, as a copy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    /// Its kind.
    pub kind: NodeKind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    /// Modification time (Unix seconds).
    pub mtime: u64,
}

/// A tree of files a copy reads. Paths are relative and clean (`a/b`; `""` is the root).
pub(crate) trait SourceTree: Sync {
    /// The path `rel` resolves to, following symlinks inside the tree (the last component
    /// only with `follow_last`); `None` when some component does not exist.
    fn resolve(&self, rel: &str, follow_last: bool) -> Option<String>;
    /// The metadata of a resolved path (a symlink is not followed).
    fn stat(&self, rel: &str) -> Option<Meta>;
    /// The names in a resolved directory, sorted.
    fn list(&self, rel: &str) -> Vec<String>;
    /// The content of a regular file.
    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send + '_>>;
    /// The sha256 (hex) of a file's content, when the tree knows it without reading it.
    fn known_digest(&self, _rel: &str) -> Option<String> {
        None
    }
}

/// A directory on disk (a mounted root file system), read through [`Tree`].
pub(crate) struct DirTree {
    root: PathBuf,
    tree: Tree,
}

impl DirTree {
    /// Opens the tree rooted at `root`.
    pub fn open(root: &Path) -> io::Result<DirTree> {
        let tree = Tree::open(root).map_err(io::Error::other)?;
        Ok(DirTree {
            root: root.to_path_buf(),
            tree,
        })
    }

    fn host(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

impl SourceTree for DirTree {
    fn resolve(&self, rel: &str, follow_last: bool) -> Option<String> {
        self.tree
            .resolve(&format!("/{rel}"), follow_last)
            .ok()
            .map(|r| r.path.trim_start_matches('/').to_string())
    }

    fn stat(&self, rel: &str) -> Option<Meta> {
        let md = std::fs::symlink_metadata(self.host(rel)).ok()?;
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            NodeKind::Dir
        } else if ft.is_symlink() {
            NodeKind::Symlink(std::fs::read_link(self.host(rel)).ok()?)
        } else if ft.is_file() {
            NodeKind::File(md.len())
        } else {
            return None;
        };
        Some(Meta {
            kind,
            mode: md.mode() & 0o7777,
            mtime: md.mtime().max(0) as u64,
        })
    }

    fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.host(rel))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(std::fs::File::open(self.host(rel))?))
    }
}

/// One entry of the context.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Its metadata.
    pub meta: Meta,
    /// Where a file's content starts in the stored tar.
    pub offset: u64,
    /// sha256 (hex) of a file's content, computed as it arrived.
    pub digest: String,
}

impl Node {
    /// A directory's or a symlink's node: metadata, no content.
    pub fn without_content(meta: Meta) -> Node {
        Node {
            meta,
            offset: 0,
            digest: String::new(),
        }
    }
}

/// The build context: every entry of the tar the client sent, by path, over the file holding
/// their contents (the stored tar, or a session's pack), read at each file's offset.
pub(crate) struct ContextTree {
    /// The stored (uncompressed) tar or the session's pack, read positionally.
    pub data: Arc<std::fs::File>,
    /// Entries by clean relative path.
    pub nodes: BTreeMap<String, Node>,
}

fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

impl ContextTree {
    /// The entry at `p`, or a directory implied by entries below it.
    fn node(&self, p: &str) -> Option<Meta> {
        if p.is_empty() {
            return Some(Meta {
                kind: NodeKind::Dir,
                mode: 0o755,
                mtime: 0,
            });
        }
        if let Some(n) = self.nodes.get(p) {
            return Some(n.meta.clone());
        }
        let prefix = format!("{p}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|_| Meta {
                kind: NodeKind::Dir,
                mode: 0o755,
                mtime: 0,
            })
    }
}

impl SourceTree for ContextTree {
    fn resolve(&self, rel: &str, follow_last: bool) -> Option<String> {
        let mut todo: Vec<String> = components(rel).map(str::to_string).collect();
        todo.reverse();
        let mut cur: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                cur.pop();
                continue;
            }
            cur.push(c);
            let here = cur.join("/");
            let meta = self.node(&here)?;
            match meta.kind {
                NodeKind::Symlink(target) if follow_last || !todo.is_empty() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    cur.pop();
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    let mut parts: Vec<String> = components(&target).map(str::to_string).collect();
                    parts.reverse();
                    todo.extend(parts);
                }
                NodeKind::File(_) | NodeKind::Symlink(_) if !todo.is_empty() => return None,
                _ => {}
            }
        }
        Some(cur.join("/"))
    }

    fn stat(&self, rel: &str) -> Option<Meta> {
        self.node(rel)
    }

    fn list(&self, rel: &str) -> Vec<String> {
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let mut names: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_string))
            .filter(|n| !n.is_empty())
            .collect();
        names.dedup();
        names
    }

    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send + '_>> {
        let node = self
            .nodes
            .get(rel)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, rel.to_string()))?;
        let NodeKind::File(size) = node.meta.kind else {
            return Err(io::Error::other(format!("{rel}: not a regular file")));
        };
        Ok(Box::new(PackReader {
            pack: self.data.clone(),
            at: node.offset,
            left: size,
        }))
    }

    fn known_digest(&self, rel: &str) -> Option<String> {
        self.nodes.get(rel).map(|n| n.digest.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: NodeKind) -> Node {
        Node {
            meta: Meta {
                kind,
                mode: 0o644,
                mtime: 0,
            },
            offset: 0,
            digest: String::new(),
        }
    }

    #[test]
    fn context_paths_resolve_inside_the_context() {
        let mut nodes = BTreeMap::new();
        nodes.insert("a/b.txt".to_string(), node(NodeKind::File(1)));
        nodes.insert("up".to_string(), node(NodeKind::Symlink("../../a".into())));
        nodes.insert(
            "abs".to_string(),
            node(NodeKind::Symlink("/a/b.txt".into())),
        );
        nodes.insert("loop".to_string(), node(NodeKind::Symlink("loop".into())));
        let t = ContextTree {
            data: Arc::new(std::fs::File::open("/dev/null").unwrap()),
            nodes,
        };
        assert_eq!(t.resolve("a/b.txt", true).as_deref(), Some("a/b.txt"));
        // `..` stops at the root; absolute targets start at it.
        assert_eq!(t.resolve("up/b.txt", true).as_deref(), Some("a/b.txt"));
        assert_eq!(t.resolve("abs", true).as_deref(), Some("a/b.txt"));
        assert_eq!(t.resolve("abs", false).as_deref(), Some("abs"));
        assert_eq!(t.resolve("loop", true), None);
        assert_eq!(t.resolve("a/b.txt/x", true), None);
        assert_eq!(t.resolve("nosuch", true), None);
        assert_eq!(t.list(""), ["a", "abs", "loop", "up"]);
        assert_eq!(t.list("a"), ["b.txt"]);
        assert_eq!(t.stat("a").unwrap().kind, NodeKind::Dir);
    }
}
