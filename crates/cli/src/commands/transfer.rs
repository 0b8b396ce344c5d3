//! `load`, `save` and `import`: archives streamed between files (or stdio) and the daemon
//! without ever being held in memory.

use crate::args::{ImportArgs, LoadArgs, SaveArgs};
use crate::autostart::Target;
use crate::{output, progress};
use anyhow::{Context as _, Result, bail};
use berth_client::Body;
use berth_common::Reference;
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Copy buffer for archives.
const COPY_BUF: usize = 1 << 20;

/// An upload body from a file, or from stdin for `-`/no file.
async fn source_body(path: Option<&Path>) -> Result<Body> {
    match path {
        Some(p) if p != Path::new("-") => {
            let f = tokio::fs::File::open(p)
                .await
                .with_context(|| format!("open {}", p.display()))?;
            Ok(Body::tar_reader(f))
        }
        _ => Ok(Body::tar_reader(tokio::io::stdin())),
    }
}

/// `load [-i FILE] [-q]`.
pub async fn load(target: &Target, args: LoadArgs) -> Result<()> {
    if args.input.is_none() && output::stdin_is_tty() {
        bail!("requested load from stdin, but stdin is empty");
    }
    let tty = output::stdout_is_tty();
    let body = source_body(args.input.as_deref()).await?;
    let client = target.connect().await?;
    // Like Docker: progress messages are only worth sending to a terminal.
    let stream = client.images_load(body, args.quiet || !tty).await?;
    progress::show(stream, tty && !args.quiet).await
}

/// `save [-o FILE] IMAGE...`.
pub async fn save(target: &Target, args: SaveArgs) -> Result<()> {
    if args.output.is_none() && output::stdout_is_tty() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let client = target.connect().await?;
    // Large buffers on both sides: with tokio's default 8 KiB copies, every chunk is a
    // blocking-pool round trip for the file write and the CLI, not the daemon, sets the pace.
    let mut archive =
        tokio::io::BufReader::with_capacity(COPY_BUF, client.images_save(&args.names).await?);
    match &args.output {
        Some(path) => {
            // Write next to the destination and rename, so a failed save never leaves a
            // truncated archive under the requested name.
            let tmp = tmp_path(path);
            let result = async {
                let mut f = tokio::fs::File::create(&tmp)
                    .await
                    .with_context(|| format!("failed to save image: create {}", tmp.display()))?;
                let mut out = tokio::io::BufWriter::with_capacity(COPY_BUF, &mut f);
                tokio::io::copy_buf(&mut archive, &mut out)
                    .await
                    .context("failed to save image")?;
                out.flush().await?;
                tokio::fs::rename(&tmp, path).await.with_context(|| {
                    format!("failed to save image: rename to {}", path.display())
                })?;
                Ok(())
            }
            .await;
            if result.is_err() {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            result
        }
        None => {
            let mut out = tokio::io::BufWriter::with_capacity(COPY_BUF, tokio::io::stdout());
            match tokio::io::copy_buf(&mut archive, &mut out).await {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map(|_| ()).context("failed to save image"),
            }?;
            out.flush().await?;
            Ok(())
        }
    }
}

fn tmp_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// `import FILE|- [REPOSITORY[:TAG]]`.
pub async fn import(target: &Target, args: ImportArgs) -> Result<()> {
    if let Some(r) = &args.reference {
        Reference::parse(r).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if args.source.starts_with("http://") || args.source.starts_with("https://") {
        bail!("importing from a URL is not supported: download the archive and import the file");
    }
    let body = source_body(Some(Path::new(&args.source))).await?;
    let client = target.connect().await?;
    let stream = client
        .image_import(
            body,
            args.reference.as_deref(),
            None,
            args.message.as_deref(),
            &args.change,
        )
        .await?;
    progress::show(stream, output::stdout_is_tty()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_sits_next_to_target() {
        let t = tmp_path(Path::new("/a/b/img.tar"));
        assert_eq!(t.parent(), Some(Path::new("/a/b")));
        assert!(
            t.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".img.tar.")
        );
    }
}
