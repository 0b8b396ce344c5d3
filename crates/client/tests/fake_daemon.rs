//! The client against a tiny fake daemon on a temporary unix socket: raw HTTP answers written by
//! hand, so the tests check the wire behaviour without a real daemon.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_client::{Body, Client, ClientError};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// Serves `answer` to one connection after reading the request (until the end of its chunked
/// body when it has one); returns the request text.
async fn serve_once(listener: UnixListener, answer: &'static str) -> String {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        req.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&req);
        let Some(head_end) = text.find("\r\n\r\n") else {
            continue;
        };
        let chunked = text[..head_end]
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        if n == 0 || !chunked || text.ends_with("0\r\n\r\n") {
            break;
        }
    }
    s.write_all(answer.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    String::from_utf8_lossy(&req).into_owned()
}

fn setup() -> (tempfile::TempDir, UnixListener, Client) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("d.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let client = Client::new(&format!("unix://{}", sock.display())).unwrap();
    (dir, listener, client)
}

#[tokio::test]
async fn error_bodies_become_api_errors() {
    let (_dir, listener, client) = setup();
    let body = r#"{"message":"No such image: nope:latest"}"#;
    let answer: &'static str = Box::leak(
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let server = tokio::spawn(serve_once(listener, answer));
    let err = client.image_inspect("nope").await.unwrap_err();
    match &err {
        ClientError::Api { status, message } => {
            assert_eq!(*status, 404);
            assert_eq!(message, "No such image: nope:latest");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "Error response from daemon: No such image: nope:latest"
    );
    let req = server.await.unwrap();
    assert!(
        req.starts_with("GET /v1.50/images/nope/json HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(
        req.to_ascii_lowercase().contains("host: localhost"),
        "{req}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(&format!("unix://{}/none.sock", dir.path().display())).unwrap();
    let err = client.ping().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn load_streams_the_upload_and_decodes_progress() {
    let (_dir, listener, client) = setup();
    // Chunk boundaries fall in the middle of the second object on purpose.
    let parts = [
        "{\"status\":\"one\"}\r\n{\"stream\":\"Loaded ",
        "image: busybox:latest\\n\"}\r\n",
    ];
    let mut answer = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for p in parts {
        answer.push_str(&format!("{:x}\r\n{p}\r\n", p.len()));
    }
    answer.push_str("0\r\n\r\n");
    let answer: &'static str = Box::leak(answer.into_boxed_str());
    let server = tokio::spawn(serve_once(listener, answer));
    let upload = futures_util::stream::iter(vec![
        Ok(bytes::Bytes::from_static(b"first-chunk")),
        Ok(bytes::Bytes::from_static(b"second-chunk")),
    ]);
    let mut stream = client
        .images_load(Body::tar_stream(upload), true)
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(m) = stream.next().await {
        got.push(m.unwrap());
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].status.as_deref(), Some("one"));
    assert_eq!(
        got[1].stream.as_deref(),
        Some("Loaded image: busybox:latest\n")
    );
    let req = server.await.unwrap();
    assert!(req.starts_with("POST /v1.50/images/load?quiet=1 "), "{req}");
    assert!(
        req.contains("first-chunk") && req.contains("second-chunk"),
        "{req}"
    );
    assert!(
        req.to_ascii_lowercase()
            .contains("content-type: application/x-tar"),
        "{req}"
    );
}

#[tokio::test]
async fn save_reads_the_archive_bytes() {
    let (_dir, listener, client) = setup();
    let answer =
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 7\r\n\r\nTARDATA";
    let server = tokio::spawn(serve_once(listener, answer));
    let mut r = client
        .images_save(&["busybox".into(), "a/b:1".into()])
        .await
        .unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, b"TARDATA");
    let req = server.await.unwrap();
    assert!(
        req.starts_with("GET /v1.50/images/get?names=busybox&names=a%2Fb%3A1 "),
        "{req}"
    );
}

/// Like [`serve_once`], but reads a `Content-Length` body to its end.
async fn serve_once_sized(listener: UnixListener, answer: &'static str) -> String {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        req.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&req).into_owned();
        let Some(head_end) = text.find("\r\n\r\n") else {
            continue;
        };
        let len = text[..head_end]
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        if n == 0 || req.len() >= head_end + 4 + len {
            break;
        }
    }
    s.write_all(answer.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    String::from_utf8_lossy(&req).into_owned()
}

fn json_answer(status: &str, body: &str) -> &'static str {
    Box::leak(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    )
}

#[tokio::test]
async fn network_create_posts_the_request() {
    use berth_api_types::network::{Ipam, IpamConfig, NetworkCreateRequest};
    let (_dir, listener, client) = setup();
    let answer = json_answer("201 Created", r#"{"Id":"abc123","Warning":""}"#);
    let server = tokio::spawn(serve_once_sized(listener, answer));
    let req = NetworkCreateRequest {
        name: "net1".into(),
        driver: "bridge".into(),
        ipam: Some(Ipam {
            driver: "default".into(),
            config: vec![IpamConfig {
                subnet: "10.9.0.0/24".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let resp = client.network_create(&req).await.unwrap();
    assert_eq!(resp.id, "abc123");
    let raw = server.await.unwrap();
    assert!(
        raw.starts_with("POST /v1.50/networks/create HTTP/1.1\r\n"),
        "{raw}"
    );
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let sent: NetworkCreateRequest = serde_json::from_str(body).unwrap();
    assert_eq!(sent, req);
}

#[tokio::test]
async fn network_list_sends_filters_and_decodes() {
    let (_dir, listener, client) = setup();
    let answer = json_answer(
        "200 OK",
        r#"[{"Name":"bridge","Id":"1111","Driver":"bridge","Scope":"local","Labels":null}]"#,
    );
    let server = tokio::spawn(serve_once_sized(listener, answer));
    let mut f = berth_api_types::Filters::default();
    f.add("driver", "bridge");
    let list = client.network_list(&f).await.unwrap();
    assert_eq!(list[0].name, "bridge");
    let raw = server.await.unwrap();
    assert!(raw.starts_with("GET /v1.50/networks?filters="), "{raw}");
}

#[tokio::test]
async fn network_disconnect_and_prune() {
    use berth_api_types::network::NetworkDisconnectRequest;
    let (dir, listener, client) = setup();
    let server = tokio::spawn(serve_once_sized(
        listener,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ));
    let req = NetworkDisconnectRequest {
        container: "web".into(),
        force: true,
    };
    client.network_disconnect("my net", &req).await.unwrap();
    let raw = server.await.unwrap();
    assert!(
        raw.starts_with("POST /v1.50/networks/my%20net/disconnect HTTP/1.1\r\n"),
        "{raw}"
    );
    assert!(
        raw.ends_with(r#"{"Container":"web","Force":true}"#),
        "{raw}"
    );

    std::fs::remove_file(dir.path().join("d.sock")).unwrap();
    let listener = UnixListener::bind(dir.path().join("d.sock")).unwrap();
    let answer = json_answer("200 OK", r#"{"NetworksDeleted":["n1"]}"#);
    let server = tokio::spawn(serve_once_sized(listener, answer));
    let report = client
        .networks_prune(&berth_api_types::Filters::default())
        .await
        .unwrap();
    assert_eq!(report.networks_deleted.unwrap(), ["n1"]);
    let raw = server.await.unwrap();
    assert!(
        raw.starts_with("POST /v1.50/networks/prune HTTP/1.1\r\n"),
        "{raw}"
    );
}
