//! `POST /build?remote=`: a context the daemon fetches itself instead of reading the body, as
//! dockerd does (the Python SDK sends one for `images.build(path=URL)`): a git repository
//! (`https://host/repo.git#ref:dir`, cloned with `git`), or an http(s) URL of a tar (plain or
//! compressed) or of a Dockerfile alone (then the context holds only it).

use super::*;
use std::io::{Seek, Write};

impl Engine {
    /// The remote context `remote` as a tar in a file under `scratch` (removed by the caller).
    pub(super) fn remote_context(
        &self,
        remote: &str,
        scratch: &std::path::Path,
    ) -> Result<std::fs::File> {
        let io = |e: std::io::Error| EngineError::io(scratch, e);
        std::fs::create_dir_all(scratch).map_err(io)?;
        let mut out = tempfile::tempfile_in(scratch).map_err(io)?;
        let remote_error = |message: String| EngineError::BuildStep { message };
        if berth_registry::git::is_git_url(remote) {
            let checkout =
                berth_registry::git::fetch(remote).map_err(|e| remote_error(e.to_string()))?;
            let mut b = tar::Builder::new(&mut out);
            b.follow_symlinks(false);
            b.append_dir_all(".", &checkout.dir).map_err(io)?;
            b.finish().map_err(io)?;
        } else if remote.starts_with("http://") || remote.starts_with("https://") {
            let mut body = tempfile::tempfile_in(scratch).map_err(io)?;
            self.http_client()
                .download_blocking(remote, &mut body, self.build.context_limit)
                .map_err(|e| remote_error(format!("unable to prepare context: {e}")))?;
            body.rewind().map_err(io)?;
            let mut head = Vec::with_capacity(berth_common::sniff::HEAD_LEN);
            (&mut body)
                .take(berth_common::sniff::HEAD_LEN as u64)
                .read_to_end(&mut head)
                .map_err(io)?;
            body.rewind().map_err(io)?;
            if berth_common::sniff::is_archive(&head) {
                return Ok(body);
            }
            // A Dockerfile alone.
            let size = body.metadata().map_err(io)?.len();
            let mut b = tar::Builder::new(&mut out);
            let mut h = tar::Header::new_gnu();
            h.set_size(size);
            h.set_mode(0o644);
            b.append_data(&mut h, "Dockerfile", &mut body).map_err(io)?;
            b.finish().map_err(io)?;
        } else {
            return Err(EngineError::InvalidArgument(format!(
                "remote {remote:?} is neither a git repository nor an http(s) URL"
            )));
        }
        out.flush().map_err(io)?;
        out.rewind().map_err(io)?;
        Ok(out)
    }
}
