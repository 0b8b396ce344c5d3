//! Debian's distribution registry (`docker-registry`, distribution 2.8) on a loopback port,
//! with its own storage and, when users are given, an htpasswd file (bcrypt): the peer the
//! login, pull and push tests speak to.

use super::{LoopbackServer, free_port, stderr};
use std::path::Path;
use std::process::Command;

/// Debian's distribution registry on a loopback port, with an htpasswd file when given.
pub struct Registry {
    server: LoopbackServer,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(users: &[(&str, &str)]) -> Option<Registry> {
        let bin = Path::new("/usr/bin/docker-registry");
        if !bin.exists() {
            super::missing_tool("docker-registry (distribution) not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut auth = String::new();
        if !users.is_empty() {
            let htpasswd = dir.path().join("htpasswd");
            for (i, (user, password)) in users.iter().enumerate() {
                let mut args = vec!["-bB"];
                if i == 0 {
                    args.push("-c");
                }
                let out = Command::new("htpasswd")
                    .args(&args)
                    .arg(&htpasswd)
                    .args([user, password])
                    .output()
                    .expect("htpasswd (apache2-utils) runs");
                assert!(out.status.success(), "htpasswd: {}", stderr(&out));
            }
            auth = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let server = LoopbackServer::spawn(Command::new(bin).arg("serve").arg(&config), port);
        Some(Registry { server, _dir: dir })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }
}

impl Registry {
    /// Where its blobs and manifests live.
    pub fn data(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }
}

/// How [`Hostile`] serves its image's layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerMode {
    /// Correctly, `Range` honoured.
    Honest,
    /// Bytes of the right length that are not the layer.
    Corrupt,
    /// The first answer stops after this many bytes and closes; later ones are honest.
    CutOnce(usize),
    /// Every answer starting at 0 sends half, then stalls until the connection dies; an
    /// answer to a `Range` request is honest.
    StallUnlessRanged,
    /// Sends half the layer, then the rest only after [`Hostile::release`].
    PauseHalfway,
    /// The first answer stops after this many bytes and closes; later ones ignore `Range`
    /// and send the whole layer from its first byte (200), as some servers do.
    CutOnceThenIgnoreRange(usize),
}

/// What [`Hostile`] answers for its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestMode {
    /// The image's manifest.
    Image,
    /// An index whose only entry is for another platform.
    ForeignIndex,
    /// An index whose amd64 entry names a digest the registry answers with other bytes.
    LyingIndex,
    /// A schema 1 manifest.
    Schema1,
    /// A 5 MiB manifest.
    Huge,
}

/// A registry written for a test, on a loopback port: it serves one image `test/img:1` (a
/// 4 MiB layer of random bytes and a config) and can misbehave as a hostile or broken
/// registry would. It records the `Range` headers it was sent.
pub struct Hostile {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The layer's digest.
    pub layer_digest: String,
    /// `Range` values of layer requests, in order.
    pub ranges: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    released: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Hostile {
    /// Starts it.
    pub fn start(layer: LayerMode, manifest: ManifestMode) -> Hostile {
        use berth_common::Digest;
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        // The layer: a tar with one 4 MiB file of incompressible bytes.
        let mut data = vec![0u8; 4 << 20];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "payload.bin", &data[..])
            .unwrap();
        let layer_bytes = Arc::new(builder.into_inner().unwrap());
        let layer_digest = Digest::of(&layer_bytes).to_string();
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        );
        let config_digest = Digest::of(config.as_bytes()).to_string();
        let image_manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer_bytes.len()
        );
        let (tag_body, tag_type) = match manifest {
            ManifestMode::Image => (
                image_manifest.clone().into_bytes(),
                "application/vnd.oci.image.manifest.v1+json",
            ),
            ManifestMode::ForeignIndex => (
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"architecture":"s390x","os":"linux"}}}}]}}"#,
                    Digest::of(image_manifest.as_bytes()),
                    image_manifest.len()
                )
                .into_bytes(),
                "application/vnd.oci.image.index.v1+json",
            ),
            ManifestMode::LyingIndex => (
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
                    Digest::of(b"not the manifest"),
                    image_manifest.len()
                )
                .into_bytes(),
                "application/vnd.oci.image.index.v1+json",
            ),
            ManifestMode::Schema1 => (
                br#"{"schemaVersion":1,"name":"test/img","tag":"1","fsLayers":[]}"#.to_vec(),
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
            ),
            ManifestMode::Huge => {
                let mut m = image_manifest.clone().into_bytes();
                m.pop();
                m.extend_from_slice(br#","annotations":{"pad":""#);
                m.extend(std::iter::repeat_n(b'x', 5 << 20));
                m.extend_from_slice(b"\"}}");
                (m, "application/vnd.oci.image.manifest.v1+json")
            }
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let released = Arc::new(AtomicBool::new(false));
        let release_flag = released.clone();
        let served = Arc::new(AtomicUsize::new(0));
        let state = (
            ranges.clone(),
            stop.clone(),
            Arc::new(tag_body),
            Arc::new(image_manifest.into_bytes()),
            Arc::new(config.into_bytes()),
            layer_digest.clone(),
            config_digest,
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { return };
                if state.1.load(Ordering::SeqCst) {
                    return;
                }
                let (ranges, stop, tag_body, image_manifest, config, layer_digest, config_digest) =
                    state.clone();
                let layer_bytes = layer_bytes.clone();
                let served = served.clone();
                let released = release_flag.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut line = String::new();
                    if r.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut range = None;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) <= 2 {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range:") {
                            range = Some(v.trim().to_string());
                        }
                    }
                    let send = |s: &mut std::net::TcpStream,
                                status: &str,
                                ctype: &str,
                                body: &[u8]| {
                        let _ = write!(
                            s,
                            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(body);
                    };
                    let manifest_digest = Digest::of(&image_manifest).to_string();
                    if path == "/v2/" {
                        send(&mut s, "200 OK", "application/json", b"{}");
                    } else if path == "/v2/test/img/manifests/1" {
                        send(&mut s, "200 OK", tag_type, &tag_body);
                    } else if path == format!("/v2/test/img/manifests/{manifest_digest}")
                        || path
                            == format!("/v2/test/img/manifests/{}", Digest::of(b"not the manifest"))
                    {
                        send(
                            &mut s,
                            "200 OK",
                            "application/vnd.oci.image.manifest.v1+json",
                            &image_manifest,
                        );
                    } else if path == format!("/v2/test/img/blobs/{config_digest}") {
                        send(&mut s, "200 OK", "application/octet-stream", &config);
                    } else if path == format!("/v2/test/img/blobs/{layer_digest}") {
                        ranges
                            .lock()
                            .unwrap()
                            .push(range.clone().unwrap_or_default());
                        let start: usize = range
                            .as_deref()
                            .and_then(|r| r.strip_prefix("bytes="))
                            .and_then(|r| r.split('-').next())
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                        let n = served.fetch_add(1, Ordering::SeqCst);
                        let total = layer_bytes.len();
                        match layer {
                            LayerMode::Corrupt => {
                                let mut wrong = layer_bytes.to_vec();
                                wrong[total / 2] ^= 0xff;
                                send(&mut s, "200 OK", "application/octet-stream", &wrong);
                            }
                            LayerMode::CutOnce(cut) | LayerMode::CutOnceThenIgnoreRange(cut)
                                if n == 0 =>
                            {
                                let _ = write!(
                                    s,
                                    "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
                                );
                                let _ = s.write_all(&layer_bytes[..cut]);
                            }
                            LayerMode::StallUnlessRanged if start == 0 => {
                                let _ = write!(
                                    s,
                                    "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
                                );
                                let _ = s.write_all(&layer_bytes[..total / 2]);
                                let _ = s.flush();
                                while !stop.load(Ordering::SeqCst) {
                                    std::thread::sleep(std::time::Duration::from_millis(50));
                                }
                            }
                            LayerMode::PauseHalfway if start == 0 => {
                                let _ = write!(
                                    s,
                                    "HTTP/1.1 200 OK\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
                                );
                                let _ = s.write_all(&layer_bytes[..total / 2]);
                                let _ = s.flush();
                                while !released.load(Ordering::SeqCst)
                                    && !stop.load(Ordering::SeqCst)
                                {
                                    std::thread::sleep(std::time::Duration::from_millis(20));
                                }
                                let _ = s.write_all(&layer_bytes[total / 2..]);
                            }
                            LayerMode::CutOnceThenIgnoreRange(_) => {
                                send(&mut s, "200 OK", "application/octet-stream", &layer_bytes)
                            }
                            _ if start > 0 => {
                                let _ = write!(
                                    s,
                                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{total}\r\nConnection: close\r\n\r\n",
                                    total - start,
                                    total - 1
                                );
                                let _ = s.write_all(&layer_bytes[start..]);
                            }
                            _ => send(&mut s, "200 OK", "application/octet-stream", &layer_bytes),
                        }
                    } else {
                        send(
                            &mut s,
                            "404 Not Found",
                            "application/json",
                            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                        );
                    }
                });
            }
        });
        Hostile {
            port,
            layer_digest,
            ranges,
            stop,
            released,
        }
    }

    /// Lets a [`LayerMode::PauseHalfway`] layer finish.
    pub fn release(&self) {
        self.released
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// `127.0.0.1:PORT/test/img:1`.
    pub fn image(&self) -> String {
        format!("127.0.0.1:{}/test/img:1", self.port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// `berth registry serve` on a loopback port with its own root; killed when dropped.
pub struct BerthRegistry {
    server: LoopbackServer,
    /// Its storage root (and home of an htpasswd file, `htpasswd`, when users were given).
    pub dir: tempfile::TempDir,
}

impl BerthRegistry {
    /// Starts one with `users` (bcrypt htpasswd) and `extra` flags.
    pub fn start(users: &[(&str, &str)], extra: &[&str]) -> BerthRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(super::berth_bin());
        cmd.args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--root")
            .arg(dir.path().join("root"))
            .args(extra);
        if !users.is_empty() {
            let htpasswd = dir.path().join("htpasswd");
            let mut text = String::new();
            for (user, password) in users {
                let out = Command::new("htpasswd")
                    .args(["-nbB", user, password])
                    .output()
                    .expect("htpasswd (apache2-utils) runs");
                assert!(out.status.success(), "htpasswd: {}", stderr(&out));
                text.push_str(String::from_utf8_lossy(&out.stdout).trim());
                text.push('\n');
            }
            std::fs::write(&htpasswd, text).unwrap();
            cmd.arg("--htpasswd").arg(&htpasswd);
        }
        let server = LoopbackServer::spawn(&mut cmd, port);
        BerthRegistry { server, dir }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The storage root.
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }
}

/// One plain-HTTP request to `127.0.0.1:port` (`Connection: close`): status, headers
/// (lower-case names) and body.
pub fn raw_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

/// A chunked body's content.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// A header's value.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
