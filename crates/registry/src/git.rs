//! A git repository as a build context (`berth build https://host/repo.git#ref:dir` clones it
//! on the client as `docker build` does with the classic builder; `POST /build?remote=` on the
//! daemon), fetched with the `git` program into a temporary directory.
//!
//! Docker's forms are recognised: `git://…`, `git@host:path`, `github.com/…`, and http(s) URLs
//! ending in `.git`, each with an optional `#ref:subdir` fragment (a branch, a tag or a commit;
//! the directory in the repository to build). Only the one commit is fetched when the server
//! allows it. The repository's `.git` is left out of the context, as BuildKit does: history
//! is nothing an image should carry by accident.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a repository could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The spec is not a usable URL or ref.
    #[error("unable to prepare context: invalid git URL {0:?}")]
    Invalid(String),
    /// `git` is not installed.
    #[error("unable to prepare context: git is not installed (apt install git)")]
    NotInstalled,
    /// A git command failed; its message.
    #[error("unable to prepare context: {0}")]
    Failed(String),
    /// The fragment's directory is not in the repository.
    #[error("unable to prepare context: {sub:?} is not a directory inside {url}")]
    NoSuchDir {
        /// The repository.
        url: String,
        /// The directory asked for.
        sub: String,
    },
    /// The local side failed (a temporary directory, removing `.git`).
    #[error("unable to prepare context: {0}")]
    Io(#[from] std::io::Error),
}

type Result<T> = std::result::Result<T, GitError>;

/// A fetched repository: the context directory inside it, removed when dropped.
pub struct GitCheckout {
    _checkout: tempfile::TempDir,
    /// The directory to build (the fragment's subdirectory, or the checkout).
    pub dir: PathBuf,
}

/// Whether `spec` names a git repository the way Docker recognises one.
pub fn is_git_url(spec: &str) -> bool {
    let url = spec.split('#').next().unwrap_or_default();
    spec.starts_with("git://")
        || spec.starts_with("git@")
        || spec.starts_with("github.com/")
        || ((url.starts_with("https://") || url.starts_with("http://")) && url.ends_with(".git"))
}

/// `spec` split into the repository URL, the ref and the subdirectory.
fn parse(spec: &str) -> (String, Option<String>, Option<String>) {
    let (url, fragment) = spec.split_once('#').unwrap_or((spec, ""));
    let url = match url.strip_prefix("github.com/") {
        Some(rest) => format!("https://github.com/{rest}"),
        None => url.to_string(),
    };
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    (url, some(reference), some(subdir))
}

/// Fetches `spec` into a temporary directory.
pub fn fetch(spec: &str) -> Result<GitCheckout> {
    let (url, reference, subdir) = parse(spec);
    if url.starts_with('-') || reference.as_deref().is_some_and(|r| r.starts_with('-')) {
        return Err(GitError::Invalid(spec.to_string()));
    }
    let checkout = tempfile::Builder::new()
        .prefix("berth-git-context-")
        .tempdir()?;
    let root = checkout.path();
    git(root, &["init", "-q"])?;
    git(root, &["remote", "add", "origin", &url])?;
    let wanted = reference.as_deref().unwrap_or("HEAD");
    // One commit when the server serves it by name; else the whole history.
    if git(root, &["fetch", "-q", "--depth", "1", "origin", wanted]).is_ok() {
        git(root, &["checkout", "-q", "FETCH_HEAD"])?;
    } else {
        git(root, &["fetch", "-q", "--tags", "origin"])
            .map_err(|e| GitError::Failed(format!("cannot fetch {url} (ref {wanted}): {e}")))?;
        git(root, &["checkout", "-q", wanted])
            .map_err(|e| GitError::Failed(format!("no ref {wanted:?} in {url}: {e}")))?;
    }
    git(
        root,
        &[
            "submodule",
            "update",
            "-q",
            "--init",
            "--recursive",
            "--depth",
            "1",
        ],
    )?;
    std::fs::remove_dir_all(root.join(".git"))?;
    let dir = match &subdir {
        None => root.to_path_buf(),
        Some(sub) => {
            let no_dir = || GitError::NoSuchDir {
                url: url.clone(),
                sub: sub.clone(),
            };
            let inside = std::fs::canonicalize(root.join(sub)).map_err(|_| no_dir())?;
            if !inside.starts_with(std::fs::canonicalize(root)?) || !inside.is_dir() {
                return Err(no_dir());
            }
            inside
        }
    };
    Ok(GitCheckout {
        _checkout: checkout,
        dir,
    })
}

/// Runs `git ARGS` in `dir`, never prompting, no transport that runs commands; its stderr
/// becomes the error.
fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .args([
            "-c",
            "protocol.ext.allow=never",
            "-c",
            "protocol.file.allow=user",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => GitError::NotInstalled,
            _ => GitError::Io(e),
        })?;
    if !out.status.success() {
        return Err(GitError::Failed(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_git_url_forms_are_recognised_and_split() {
        for yes in [
            "git://host/repo",
            "git@github.com:o/r.git",
            "github.com/o/r",
            "https://host/o/r.git",
            "https://host/o/r.git#main:app",
        ] {
            assert!(is_git_url(yes), "{yes}");
        }
        for no in ["https://host/ctx.tar.gz", ".", "dir/x.git.d"] {
            assert!(!is_git_url(no), "{no}");
        }
        assert_eq!(
            parse("github.com/o/r#v1:sub/dir"),
            (
                "https://github.com/o/r".into(),
                Some("v1".into()),
                Some("sub/dir".into())
            )
        );
        assert_eq!(
            parse("git://h/r#:app"),
            ("git://h/r".into(), None, Some("app".into()))
        );
        assert_eq!(parse("git://h/r"), ("git://h/r".into(), None, None));
    }
}
