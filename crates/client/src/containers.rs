//! Container endpoints: lifecycle (create, start, stop, kill, restart, pause, wait, remove),
//! listing and inspection, logs, top, stats, changes, export, archives (`cp`), commit, rename,
//! update, prune, resize and attach.

use crate::body::Body;
use crate::error::{ClientError, Result};
use crate::hijack::{HijackedStream, multiplexed_from_content_type};
use crate::stream::{ByteReader, JsonStream, byte_reader, json_stream};
use crate::transport::{Client, api_error, path_escape, query};
use berth_api_types::container::{
    ContainerChange, ContainerConfig, ContainerCreateRequest, ContainerCreateResponse,
    ContainerInspect, ContainerPathStat, ContainerPruneResponse, ContainerStats, ContainerSummary,
    ContainerTopResponse, ContainerUpdateRequest, ContainerUpdateResponse, ContainerWaitResponse,
    PATH_STAT_HEADER,
};
use berth_api_types::{Filters, IdResponse};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, header};

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// `/containers/{id}` with the id escaped.
fn cpath(id: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", path_escape(id))
}

/// Options of `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Include stopped containers.
    pub all: bool,
    /// Only the `n` most recently created (`-n`, `-l` = 1).
    pub limit: Option<i64>,
    /// Compute `SizeRw`/`SizeRootFs`.
    pub size: bool,
    /// Filters (`status=exited`, `label=a`, `name=x`, …).
    pub filters: Filters,
}

/// What `POST /containers/{id}/wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// Until the container is not running (returns at once if it is not).
    #[default]
    NotRunning,
    /// Until the container's next exit (used before starting it).
    NextExit,
    /// Until the container is removed (`--rm`).
    Removed,
}

impl WaitCondition {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitCondition::NotRunning => "not-running",
            WaitCondition::NextExit => "next-exit",
            WaitCondition::Removed => "removed",
        }
    }
}

/// A wait the daemon has registered: the response headers have arrived, the body (the exit
/// status) comes when the condition is met. Registering before `start` is what makes
/// `run --rm` race-free.
#[derive(Debug)]
pub struct WaitHandle {
    body: Incoming,
    path: String,
}

impl WaitHandle {
    /// Waits for the condition and returns the exit status. A `Error.Message` in the answer is
    /// returned as the `error` field, not as an `Err`, so the caller can print it as Docker does.
    pub async fn result(self) -> Result<ContainerWaitResponse> {
        let bytes = self.body.collect().await?.to_bytes();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ClientError::InvalidRequest(format!(
                "{}: the daemon closed the wait without a status",
                self.path
            )));
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Options of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Keep streaming new output.
    pub follow: bool,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Only since this time (unix seconds with optional fraction, as the daemon takes it).
    pub since: Option<String>,
    /// Only until this time.
    pub until: Option<String>,
    /// Prefix every line with its RFC 3339 time.
    pub timestamps: bool,
    /// Only the last lines: a number or `all`.
    pub tail: Option<String>,
}

/// A streamed output body (logs): bytes plus whether they are stdcopy-framed, when the daemon
/// said so in its `Content-Type` (otherwise the caller decides from the container's `Tty`).
pub struct OutputStream {
    /// The body.
    pub reader: ByteReader,
    /// `Some(true)` for a multiplexed body, `Some(false)` for raw, `None` if not stated.
    pub multiplexed: Option<bool>,
}

impl std::fmt::Debug for OutputStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputStream")
            .field("multiplexed", &self.multiplexed)
            .finish_non_exhaustive()
    }
}

/// Options of `POST /containers/{id}/attach`.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Attach stdin.
    pub stdin: bool,
    /// Attach stdout.
    pub stdout: bool,
    /// Attach stderr.
    pub stderr: bool,
    /// Replay the container's logs first.
    pub logs: bool,
    /// Detach key sequence for the daemon (`ctrl-p,ctrl-q`).
    pub detach_keys: Option<String>,
}

/// Options of `POST /commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Repository of the new image.
    pub repo: Option<String>,
    /// Tag of the new image.
    pub tag: Option<String>,
    /// Commit message.
    pub comment: Option<String>,
    /// Author.
    pub author: Option<String>,
    /// Pause the container while committing.
    pub pause: bool,
    /// Dockerfile instructions applied to the config (`CMD ["sh"]`).
    pub changes: Vec<String>,
    /// Config to merge into the image's; `None` sends no body.
    pub config: Option<ContainerConfig>,
}

/// The query of a `commit`; separate so the parameter encoding can be tested.
pub fn commit_query(container: &str, o: &CommitOptions) -> String {
    let mut q = vec![("container", container)];
    if let Some(r) = &o.repo {
        q.push(("repo", r));
    }
    if let Some(t) = &o.tag {
        q.push(("tag", t));
    }
    if let Some(c) = &o.comment {
        q.push(("comment", c));
    }
    if let Some(a) = &o.author {
        q.push(("author", a));
    }
    q.push(("pause", flag(o.pause)));
    q.extend(o.changes.iter().map(|c| ("changes", c.as_str())));
    query(q)
}

/// The query of a `logs` request.
pub fn logs_query(o: &LogsOptions) -> String {
    let mut q = vec![("stdout", flag(o.stdout)), ("stderr", flag(o.stderr))];
    if o.follow {
        q.push(("follow", "1"));
    }
    if let Some(s) = &o.since {
        q.push(("since", s));
    }
    if let Some(u) = &o.until {
        q.push(("until", u));
    }
    if o.timestamps {
        q.push(("timestamps", "1"));
    }
    if let Some(t) = &o.tail {
        q.push(("tail", t));
    }
    query(q)
}

/// The query of an `attach` request.
pub fn attach_query(o: &AttachOptions) -> String {
    let mut q = vec![
        ("stream", "1"),
        ("stdin", flag(o.stdin)),
        ("stdout", flag(o.stdout)),
        ("stderr", flag(o.stderr)),
    ];
    if o.logs {
        q.push(("logs", "1"));
    }
    if let Some(k) = &o.detach_keys {
        q.push(("detachKeys", k));
    }
    query(q)
}

/// `?filters=...` or nothing.
fn filters_query(filters: &Filters) -> String {
    if filters.is_empty() {
        String::new()
    } else {
        let f = filters.to_json();
        query([("filters", f.as_str())])
    }
}

/// Decodes the base64 JSON of an `X-Docker-Container-Path-Stat` header.
pub fn decode_path_stat(value: &str) -> Result<ContainerPathStat> {
    let bytes = base64_decode(value.trim()).ok_or_else(|| {
        ClientError::InvalidRequest(format!(
            "unable to decode container path stat header: {value}"
        ))
    })?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Standard base64 (padding optional), the encoding of the path-stat header.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

fn path_stat_of(resp: &hyper::Response<Incoming>) -> Result<ContainerPathStat> {
    match resp.headers().get(PATH_STAT_HEADER) {
        Some(v) => decode_path_stat(v.to_str().unwrap_or_default()),
        None => Ok(ContainerPathStat::default()),
    }
}

impl Client {
    /// `POST /containers/create?name=`.
    pub async fn container_create(
        &self,
        req: &ContainerCreateRequest,
        name: Option<&str>,
        platform: Option<&str>,
    ) -> Result<ContainerCreateResponse> {
        let mut q = Vec::new();
        if let Some(n) = name {
            q.push(("name", n));
        }
        if let Some(p) = platform {
            q.push(("platform", p));
        }
        let path = format!("/containers/create{}", query(q));
        self.send_json(Method::POST, &path, Body::json(req)?).await
    }

    /// `POST /containers/{id}/start`.
    pub async fn container_start(&self, id: &str, detach_keys: Option<&str>) -> Result<()> {
        let q = match detach_keys {
            Some(k) => query([("detachKeys", k)]),
            None => String::new(),
        };
        self.send_unit(
            Method::POST,
            &cpath(id, &format!("/start{q}")),
            Body::empty(),
        )
        .await
    }

    /// `POST /containers/{id}/stop`: `signal` overrides the stop signal, `timeout` (seconds,
    /// -1 = forever) the grace period before `SIGKILL`.
    pub async fn container_stop(
        &self,
        id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let path = cpath(id, &format!("/stop{}", stop_query(signal, timeout)));
        self.send_unit(Method::POST, &path, Body::empty()).await
    }

    /// `POST /containers/{id}/restart`, with the same parameters as stop.
    pub async fn container_restart(
        &self,
        id: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let path = cpath(id, &format!("/restart{}", stop_query(signal, timeout)));
        self.send_unit(Method::POST, &path, Body::empty()).await
    }

    /// `POST /containers/{id}/kill?signal=` (default `SIGKILL`).
    pub async fn container_kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let q = match signal {
            Some(s) => query([("signal", s)]),
            None => String::new(),
        };
        self.send_unit(
            Method::POST,
            &cpath(id, &format!("/kill{q}")),
            Body::empty(),
        )
        .await
    }

    /// `DELETE /containers/{id}?force=&v=`.
    pub async fn container_remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let q = query([("force", flag(force)), ("v", flag(volumes))]);
        self.send_unit(Method::DELETE, &cpath(id, &q), Body::empty())
            .await
    }

    /// `POST /containers/{id}/wait?condition=`, returning once the daemon has registered the
    /// wait (its response headers arrived).
    pub async fn container_wait_begin(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> Result<WaitHandle> {
        let path = cpath(
            id,
            &format!("/wait{}", query([("condition", condition.as_str())])),
        );
        let resp = self.send(Method::POST, &path, Body::empty()).await?;
        Ok(WaitHandle {
            body: resp.into_body(),
            path,
        })
    }

    /// `POST /containers/{id}/wait?condition=` to the end.
    pub async fn container_wait(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> Result<ContainerWaitResponse> {
        self.container_wait_begin(id, condition)
            .await?
            .result()
            .await
    }

    /// `GET /containers/json`.
    pub async fn containers_list(&self, o: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let f = o.filters.to_json();
        let limit = o.limit.map(|l| l.to_string());
        let mut q = Vec::new();
        if o.all {
            q.push(("all", "1"));
        }
        if let Some(l) = &limit {
            q.push(("limit", l.as_str()));
        }
        if o.size {
            q.push(("size", "1"));
        }
        if !o.filters.is_empty() {
            q.push(("filters", f.as_str()));
        }
        self.get_json(&format!("/containers/json{}", query(q)))
            .await
    }

    /// `GET /containers/{id}/json`, decoded.
    pub async fn container_inspect(&self, id: &str, size: bool) -> Result<ContainerInspect> {
        let q = if size { "?size=1" } else { "" };
        self.get_json(&cpath(id, &format!("/json{q}"))).await
    }

    /// `GET /containers/{id}/json` undecoded, for `inspect` output and templates.
    pub async fn container_inspect_raw(&self, id: &str, size: bool) -> Result<serde_json::Value> {
        let q = if size { "?size=1" } else { "" };
        self.get_json(&cpath(id, &format!("/json{q}"))).await
    }

    /// `GET /containers/{id}/logs`.
    pub async fn container_logs(&self, id: &str, o: &LogsOptions) -> Result<OutputStream> {
        let path = cpath(id, &format!("/logs{}", logs_query(o)));
        let resp = self.send(Method::GET, &path, Body::empty()).await?;
        let multiplexed = multiplexed_from_content_type(
            resp.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        Ok(OutputStream {
            reader: byte_reader(resp.into_body()),
            multiplexed,
        })
    }

    /// `GET /containers/{id}/top?ps_args=`.
    pub async fn container_top(
        &self,
        id: &str,
        ps_args: Option<&str>,
    ) -> Result<ContainerTopResponse> {
        let q = match ps_args {
            Some(a) => query([("ps_args", a)]),
            None => String::new(),
        };
        self.get_json(&cpath(id, &format!("/top{q}"))).await
    }

    /// `GET /containers/{id}/stats?stream=`: one sample per second while `stream`, else one
    /// (after the daemon's priming second unless `one_shot`).
    pub async fn container_stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<JsonStream<ContainerStats>> {
        let mut q = vec![("stream", flag(stream))];
        if one_shot {
            q.push(("one-shot", "1"));
        }
        let path = cpath(id, &format!("/stats{}", query(q)));
        let resp = self.send(Method::GET, &path, Body::empty()).await?;
        Ok(json_stream(resp.into_body()))
    }

    /// `POST /containers/{id}/rename?name=`.
    pub async fn container_rename(&self, id: &str, new_name: &str) -> Result<()> {
        let path = cpath(id, &format!("/rename{}", query([("name", new_name)])));
        self.send_unit(Method::POST, &path, Body::empty()).await
    }

    /// `POST /containers/{id}/pause`.
    pub async fn container_pause(&self, id: &str) -> Result<()> {
        self.send_unit(Method::POST, &cpath(id, "/pause"), Body::empty())
            .await
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn container_unpause(&self, id: &str) -> Result<()> {
        self.send_unit(Method::POST, &cpath(id, "/unpause"), Body::empty())
            .await
    }

    /// `POST /containers/{id}/update`.
    pub async fn container_update(
        &self,
        id: &str,
        req: &ContainerUpdateRequest,
    ) -> Result<ContainerUpdateResponse> {
        self.send_json(Method::POST, &cpath(id, "/update"), Body::json(req)?)
            .await
    }

    /// `POST /containers/prune`.
    pub async fn containers_prune(&self, filters: &Filters) -> Result<ContainerPruneResponse> {
        let path = format!("/containers/prune{}", filters_query(filters));
        self.send_json(Method::POST, &path, Body::empty()).await
    }

    /// `POST /containers/{id}/resize?h=&w=`: the TTY's size.
    pub async fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let (h, w) = (height.to_string(), width.to_string());
        let path = cpath(
            id,
            &format!("/resize{}", query([("h", h.as_str()), ("w", w.as_str())])),
        );
        self.send_unit(Method::POST, &path, Body::empty()).await
    }

    /// `GET /containers/{id}/changes` (`null` from the daemon means no changes).
    pub async fn container_changes(&self, id: &str) -> Result<Vec<ContainerChange>> {
        let v: Option<Vec<ContainerChange>> = self.get_json(&cpath(id, "/changes")).await?;
        Ok(v.unwrap_or_default())
    }

    /// `GET /containers/{id}/export`: the root file system as a tar stream.
    pub async fn container_export(&self, id: &str) -> Result<ByteReader> {
        let resp = self
            .send(Method::GET, &cpath(id, "/export"), Body::empty())
            .await?;
        Ok(byte_reader(resp.into_body()))
    }

    /// `HEAD /containers/{id}/archive?path=`: the stat of a path in the container.
    pub async fn container_archive_stat(&self, id: &str, path: &str) -> Result<ContainerPathStat> {
        let p = cpath(id, &format!("/archive{}", query([("path", path)])));
        let resp = self.request(Method::HEAD, &p, Body::empty()).await?;
        let status = resp.status();
        if status.is_client_error() || status.is_server_error() {
            // A HEAD answer has no body to carry the message: say what Docker's client says.
            let message = match status.as_u16() {
                404 => format!("Could not find the file {path} in container {id}"),
                _ => {
                    return Err(api_error(status.as_u16(), &bytes::Bytes::new(), &p));
                }
            };
            return Err(ClientError::Api {
                status: status.as_u16(),
                message,
            });
        }
        path_stat_of(&resp)
    }

    /// `GET /containers/{id}/archive?path=`: the stat of the path and a tar of it.
    pub async fn container_archive_get(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(ContainerPathStat, ByteReader)> {
        let p = cpath(id, &format!("/archive{}", query([("path", path)])));
        let resp = self.send(Method::GET, &p, Body::empty()).await?;
        let stat = path_stat_of(&resp)?;
        Ok((stat, byte_reader(resp.into_body())))
    }

    /// `PUT /containers/{id}/archive?path=`: extracts a tar into directory `path`.
    /// `no_overwrite_dir_non_dir` refuses to replace a directory by a non-directory or the
    /// reverse; `copy_uid_gid` keeps the archive's owners (`cp -a`).
    pub async fn container_archive_put(
        &self,
        id: &str,
        path: &str,
        body: Body,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> Result<()> {
        let mut q = vec![("path", path)];
        if no_overwrite_dir_non_dir {
            q.push(("noOverwriteDirNonDir", "true"));
        }
        if copy_uid_gid {
            q.push(("copyUIDGID", "true"));
        }
        let p = cpath(id, &format!("/archive{}", query(q)));
        self.send_unit(Method::PUT, &p, body).await
    }

    /// `POST /commit?container=…`: a new image from the container's changes.
    pub async fn container_commit(&self, id: &str, o: &CommitOptions) -> Result<IdResponse> {
        let body = match &o.config {
            Some(c) => Body::json(c)?,
            None => Body::empty(),
        };
        let path = format!("/commit{}", commit_query(id, o));
        self.send_json(Method::POST, &path, body).await
    }

    /// `POST /containers/{id}/attach?stream=1&…` upgraded to a raw stream. `tty` is the
    /// container's `Config.Tty` (decides the framing if the daemon does not say).
    pub async fn container_attach(
        &self,
        id: &str,
        o: &AttachOptions,
        tty: bool,
    ) -> Result<HijackedStream> {
        let path = cpath(id, &format!("/attach{}", attach_query(o)));
        self.hijack(Method::POST, &path, Body::empty(), tty).await
    }
}

/// `?signal=&t=` of stop and restart.
fn stop_query(signal: Option<&str>, timeout: Option<i64>) -> String {
    let t = timeout.map(|t| t.to_string());
    let mut q = Vec::new();
    if let Some(s) = signal {
        q.push(("signal", s));
    }
    if let Some(t) = &t {
        q.push(("t", t.as_str()));
    }
    query(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(stop_query(None, None), "");
        assert_eq!(stop_query(Some("SIGINT"), Some(3)), "?signal=SIGINT&t=3");
        let o = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            tail: Some("5".into()),
            since: Some("1700000000.5".into()),
            ..Default::default()
        };
        assert_eq!(
            logs_query(&o),
            "?stdout=1&stderr=1&follow=1&since=1700000000.5&tail=5"
        );
        let a = AttachOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            logs: false,
            detach_keys: Some("ctrl-p,ctrl-q".into()),
        };
        assert_eq!(
            attach_query(&a),
            "?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-p%2Cctrl-q"
        );
        let c = CommitOptions {
            repo: Some("app".into()),
            tag: Some("1".into()),
            changes: vec!["CMD [\"sh\"]".into()],
            pause: true,
            ..Default::default()
        };
        assert_eq!(
            commit_query("web", &c),
            "?container=web&repo=app&tag=1&pause=1&changes=CMD+%5B%22sh%22%5D"
        );
        assert_eq!(WaitCondition::NextExit.as_str(), "next-exit");
    }

    #[test]
    fn path_stat_header_decodes() {
        // base64 of {"name":"etc","size":4096,"mode":2147484141,"mtime":"2024-01-01T00:00:00Z","linkTarget":""}
        let h = "eyJuYW1lIjoiZXRjIiwic2l6ZSI6NDA5NiwibW9kZSI6MjE0NzQ4NDE0MSwibXRpbWUiOiIyMDI0LTAxLTAxVDAwOjAwOjAwWiIsImxpbmtUYXJnZXQiOiIifQ==";
        let s = decode_path_stat(h).unwrap();
        assert_eq!(s.name, "etc");
        assert!(s.is_dir());
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert!(base64_decode("a").is_none());
        assert!(decode_path_stat("!!!").is_err());
    }
}
