//! The Docker Engine API over the daemon's socket, checked at the HTTP level: headers, versions,
//! error shapes and statuses, and the image endpoints.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Daemon, busybox_tar, read};

#[test]
fn ping_has_docker_headers_for_get_and_head() {
    let d = Daemon::start();
    for method in ["GET", "HEAD"] {
        let r = d.http(method, "/_ping", b"");
        assert_eq!(r.status, 200, "{method}");
        assert_eq!(r.header("Api-Version"), Some("1.50"));
        assert_eq!(r.header("Docker-Experimental"), Some("false"));
        assert_eq!(r.header("OSType"), Some("linux"));
    }
    assert_eq!(d.http("GET", "/_ping", b"").text(), "OK");
    assert_eq!(d.http("GET", "/v1.45/_ping", b"").status, 200);
}

#[test]
fn version_and_info_on_every_supported_prefix() {
    let d = Daemon::start();
    for prefix in ["", "/v1.41", "/v1.44", "/v1.50"] {
        let v = d.http("GET", &format!("{prefix}/version"), b"");
        assert_eq!(v.status, 200, "{prefix}/version");
        let v = v.json();
        assert_eq!(v["ApiVersion"], "1.50");
        assert_eq!(v["MinAPIVersion"], "1.41");
        assert_eq!(v["Os"], "linux");
        let i = d.http("GET", &format!("{prefix}/info"), b"").json();
        assert_eq!(i["OSType"], "linux");
        assert_eq!(i["Images"], 0);
        assert_eq!(i["DockerRootDir"], d.root().display().to_string());
    }
}

#[test]
fn unsupported_versions_are_refused_with_docker_wording() {
    let d = Daemon::start();
    let r = d.http("GET", "/v1.99/version", b"");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("client version 1.99 is too new")
    );
    let r = d.http("GET", "/v1.12/version", b"");
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("too old"));
}

#[test]
fn unknown_endpoints_are_404_naming_the_endpoint() {
    let d = Daemon::start();
    let r = d.http("POST", "/v1.50/no/such/thing", b"");
    assert_eq!(r.status, 404);
    let msg = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("POST") && msg.contains("/no/such/thing"),
        "{msg}"
    );
}

#[test]
fn missing_images_and_bad_input_get_docker_statuses() {
    let d = Daemon::start();
    let r = d.http("GET", "/images/nope/json", b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such image: nope:latest");
    let r = d.http("DELETE", "/images/nope", b"");
    assert_eq!(r.status, 404);
    let r = d.http("GET", "/images/json?filters=%7Bnot-json", b"");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.http(
        "GET",
        "/images/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("bogus"));
}

#[test]
fn import_list_inspect_history_tag_delete_over_http() {
    let d = Daemon::start();
    let tar = read(&busybox_tar());
    let r = d.http("POST", "/v1.50/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D&message=made+here", &tar);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.contains("sha256:"), "{text}");
    assert!(!text.contains("error"), "{text}");

    let list = d.http("GET", "/images/json", b"").json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["RepoTags"][0], "busybox:latest");
    let id = list[0]["Id"].as_str().unwrap().to_string();
    assert!(list[0]["Size"].as_i64().unwrap() > 500_000);

    // Every way of naming it resolves: full name, short name, id, short id.
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &id,
        &id[7..19],
    ] {
        let r = d.http("GET", &format!("/images/{name}/json"), b"");
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        let j = r.json();
        assert_eq!(j["Id"], id);
        assert_eq!(j["Config"]["Cmd"][0], "sh");
        assert_eq!(j["Comment"], "made here");
        assert_eq!(j["RootFS"]["Type"], "layers");
    }
    let h = d.http("GET", "/images/busybox/history", b"").json();
    assert_eq!(h[0]["Id"], id);

    let r = d.http(
        "POST",
        "/images/busybox/tag?repo=localhost%3A5000%2Fmine&tag=v1",
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.http("GET", "/images/localhost:5000/mine:v1/json", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = d.http("POST", "/images/busybox/tag?repo=UPPER&tag=case", b"");
    assert_eq!(r.status, 400, "{}", r.text());

    // Deleting by id while two tags point at it needs force (409).
    let r = d.http("DELETE", &format!("/images/{}", &id[7..19]), b"");
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("must be forced"));
    let r = d.http("DELETE", "/images/localhost:5000/mine:v1", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["Untagged"], "localhost:5000/mine:v1");
    let r = d.http("DELETE", "/images/busybox", b"");
    assert_eq!(r.status, 200);
    assert!(r.text().contains(&id), "{}", r.text());
    assert_eq!(
        d.http("GET", "/images/json", b"")
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn filters_select_images() {
    let d = Daemon::start();
    let tar = read(&busybox_tar());
    for (repo, change) in [
        ("one", "LABEL%20team%3Dred"),
        ("two", "LABEL%20team%3Dblue"),
    ] {
        let r = d.http(
            "POST",
            &format!("/images/create?fromSrc=-&repo={repo}&changes={change}"),
            &tar,
        );
        assert!(!r.text().contains("error"), "{}", r.text());
    }
    let q = |f: &str| -> Vec<String> {
        let enc: String = f.bytes().map(|b| format!("%{b:02X}")).collect();
        let r = d.http("GET", &format!("/images/json?filters={enc}"), b"");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["RepoTags"].as_array().unwrap().clone())
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(q(r#"{"label":["team=red"]}"#), vec!["one:latest"]);
    assert_eq!(q(r#"{"reference":{"two":true}}"#), vec!["two:latest"]);
    assert!(q(r#"{"dangling":["true"]}"#).is_empty());
}

#[test]
fn swarm_endpoints_answer_as_a_node_outside_a_swarm() {
    let d = Daemon::start();
    for (method, path, want) in [
        ("GET", "/swarm", "not a swarm manager"),
        (
            "POST",
            "/swarm/leave?force=1",
            "This node is not part of a swarm",
        ),
        ("POST", "/v1.47/swarm/update", "not a swarm manager"),
        ("GET", "/nodes", "not a swarm manager"),
        ("GET", "/services?filters={}", "not a swarm manager"),
        ("GET", "/tasks", "not a swarm manager"),
        ("GET", "/secrets/abc", "not a swarm manager"),
        ("GET", "/configs", "not a swarm manager"),
        (
            "POST",
            "/swarm/init",
            "swarm mode is not supported by Berth",
        ),
        (
            "POST",
            "/swarm/join",
            "swarm mode is not supported by Berth",
        ),
    ] {
        let r = d.http(method, path, b"{}");
        assert_eq!(r.status, 503, "{method} {path}: {}", r.text());
        let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(want), "{method} {path}: {msg}");
    }
}

#[test]
fn image_inspect_has_the_fields_of_the_clients_api_version() {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let old = d.http("GET", "/v1.41/images/busybox/json", b"").json();
    assert_eq!(old["ContainerConfig"], old["Config"], "{old}");
    assert_eq!(old["VirtualSize"], old["Size"]);
    assert_eq!(old["Container"], "");
    let new = d.http("GET", "/v1.45/images/busybox/json", b"").json();
    assert!(new.get("VirtualSize").is_none(), "{new}");
    // Kept at every version on purpose: docker-compose 1.29 negotiates the newest and reads it.
    assert_eq!(new["ContainerConfig"], new["Config"], "{new}");
    let unversioned = d.http("GET", "/images/busybox/json", b"").json();
    assert!(unversioned.get("VirtualSize").is_none());
}

#[test]
fn distribution_inspect_answers_what_the_registry_holds() {
    let d = Daemon::start();
    let r = common::registry::Hostile::start(
        common::registry::LayerMode::Honest,
        common::registry::ManifestMode::Image,
    );
    let resp = d.http(
        "GET",
        &format!("/v1.50/distribution/{}/json", r.image()),
        b"",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v = resp.json();
    assert_eq!(
        v["Descriptor"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert!(
        v["Descriptor"]["digest"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:"),
        "{v}"
    );
    assert_eq!(v["Platforms"][0]["os"], "linux", "{v}");
    assert_eq!(v["Platforms"][0]["architecture"], "amd64", "{v}");
    // A tag the registry lacks is a 404 in Docker's words.
    let missing = r.image().replace(":1", ":2");
    let resp = d.http("GET", &format!("/v1.50/distribution/{missing}/json"), b"");
    assert_eq!(resp.status, 404, "{}", resp.text());
    assert!(resp.text().contains("not found"), "{}", resp.text());
}
