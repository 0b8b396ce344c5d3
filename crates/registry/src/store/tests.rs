//! The store's rules, on a temp dir.

use super::*;
use std::time::Duration;

fn store() -> (tempfile::TempDir, RegistryStore) {
    let d = tempfile::tempdir().unwrap();
    let s = RegistryStore::open(d.path()).unwrap();
    (d, s)
}

/// Uploads `data` into `repo` in one go; its digest.
fn put_blob(s: &RegistryStore, repo: &str, data: &[u8]) -> Digest {
    let id = s.start_upload(repo).unwrap();
    s.append(repo, &id, None, data).unwrap();
    let d = Digest::of(data);
    s.finish_upload(repo, &id, &d.to_string()).unwrap();
    d
}

fn manifest(config: &Digest, layers: &[&Digest]) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|d| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{d}","size":1}}"#))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{}]}}"#,
        layers.join(",")
    )
    .into_bytes()
}

#[test]
fn names_follow_the_spec_grammar() {
    for ok in ["a", "library/busybox", "a-b/c.d/e__f", "x--y", "0/1"] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "A",
        "a/../b",
        "..",
        "a//b",
        "_a",
        "a_",
        "a/B",
        "a..b",
        "a___b",
        &"x".repeat(256),
    ] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn uploads_are_verified_ordered_and_single_use() {
    let (_d, s) = store();
    let id = s.start_upload("team/app").unwrap();
    assert_eq!(s.append("team/app", &id, Some(0), b"hello ").unwrap(), 6);
    // A chunk that does not continue where the upload stands is refused.
    let err = s.append("team/app", &id, Some(3), b"x").unwrap_err();
    assert_eq!(err.status(), 416, "{err}");
    assert_eq!(s.append("team/app", &id, Some(6), b"world").unwrap(), 11);
    // Another repository cannot use the id.
    assert!(s.upload_offset("other", &id).is_err());
    let wrong = Digest::of(b"something else");
    let err = s
        .finish_upload("team/app", &id, &wrong.to_string())
        .unwrap_err();
    assert_eq!(err.code(), "DIGEST_INVALID");
    assert!(!s.blob_path(&wrong).exists());
    // The failed completion ended the upload.
    assert_eq!(
        s.upload_offset("team/app", &id).unwrap_err().code(),
        "BLOB_UPLOAD_UNKNOWN"
    );

    let d = put_blob(&s, "team/app", b"hello world");
    assert_eq!(s.blob_size("team/app", &d).unwrap(), Some(11));
    assert_eq!(
        s.blob_size("other/app", &d).unwrap(),
        None,
        "not linked there"
    );
    assert!(s.mount("other/app", "team/app", &d).unwrap());
    assert_eq!(s.blob_size("other/app", &d).unwrap(), Some(11));
    assert!(!s.mount("third", "nowhere", &d).unwrap());
}

#[test]
fn an_upload_survives_a_restart() {
    let (dir, s) = store();
    let id = s.start_upload("app").unwrap();
    s.append("app", &id, None, b"first half, ").unwrap();
    drop(s);
    let s = RegistryStore::open(dir.path()).unwrap();
    assert_eq!(s.upload_offset("app", &id).unwrap(), 12);
    s.append("app", &id, Some(12), b"second half").unwrap();
    let d = Digest::of(b"first half, second half");
    assert_eq!(s.finish_upload("app", &id, &d.to_string()).unwrap(), 23);
}

#[test]
fn manifests_need_their_blobs_and_tags_and_referrers_follow_them() {
    let (_d, s) = store();
    let config = put_blob(&s, "app", b"{}");
    let layer = Digest::of(b"missing layer");
    let m = manifest(&config, &[&layer]);
    let err = s.put_manifest("app", "1", "", &m).unwrap_err();
    assert_eq!(err.code(), "MANIFEST_BLOB_UNKNOWN", "{err}");
    let layer = put_blob(&s, "app", b"a layer");
    let m = manifest(&config, &[&layer]);
    let (digest, subject) = s.put_manifest("app", "1", "", &m).unwrap();
    assert!(subject.is_none());
    let got = s.get_manifest("app", "1").unwrap();
    assert_eq!(got.bytes, m);
    assert_eq!(got.media_type, "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        s.get_manifest("app", &digest.to_string()).unwrap().digest,
        digest
    );
    // Pushed by a digest it does not have: refused.
    let err = s
        .put_manifest("app", &Digest::of(b"x").to_string(), "", &m)
        .unwrap_err();
    assert_eq!(err.code(), "DIGEST_INVALID");
    let err = s
        .put_manifest("app", "2", "", &vec![b' '; MANIFEST_LIMIT + 1])
        .unwrap_err();
    assert_eq!(err.status(), 413);
    // An index that also claims layers is not checked as either: refused.
    let mixed = format!(
        r#"{{"schemaVersion":2,"manifests":[],"layers":[{{"digest":"{layer}","size":1}}]}}"#
    );
    let err = s
        .put_manifest("app", "3", "", mixed.as_bytes())
        .unwrap_err();
    assert_eq!(err.code(), "MANIFEST_INVALID");
    let untyped = String::from_utf8(m.clone()).unwrap().replacen(
        r#""mediaType":"application/vnd.oci.image.manifest.v1+json","#,
        "",
        1,
    );
    let err = s
        .put_manifest("app", "4", "text/x\r\nSet-Cookie: x", untyped.as_bytes())
        .unwrap_err();
    assert_eq!(
        err.code(),
        "MANIFEST_INVALID",
        "a media type that is not one"
    );
    let err = s.put_manifest("app", &"t".repeat(129), "", &m).unwrap_err();
    assert_eq!(err.code(), "TAG_INVALID");

    // A signature-like artifact pointing at the image.
    let sig = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{}}}}}"#,
        m.len()
    );
    let (sig_digest, subject) = s
        .put_manifest(
            "app",
            &Digest::of(sig.as_bytes()).to_string(),
            "",
            sig.as_bytes(),
        )
        .unwrap();
    assert_eq!(subject.as_ref(), Some(&digest));
    let refs = s.referrers("app", &digest, None).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0]["digest"], sig_digest.to_string());
    assert!(
        s.referrers("app", &digest, Some("other/type"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.tags("app").unwrap(), vec!["1".to_string()]);
    assert_eq!(s.catalog().unwrap(), vec!["app".to_string()]);
    s.delete_manifest("app", &sig_digest.to_string()).unwrap();
    assert!(s.referrers("app", &digest, None).unwrap().is_empty());
    s.delete_manifest("app", &digest.to_string()).unwrap();
    assert!(s.tags("app").unwrap().is_empty(), "its tag went with it");
    assert_eq!(
        s.get_manifest("app", "1").unwrap_err().code(),
        "MANIFEST_UNKNOWN"
    );
}

#[test]
fn gc_keeps_what_manifests_and_recent_pushes_use() {
    let (_d, s) = store();
    let config = put_blob(&s, "app", b"{}");
    let layer = put_blob(&s, "app", b"kept layer");
    s.put_manifest("app", "1", "", &manifest(&config, &[&layer]))
        .unwrap();
    let orphan = put_blob(&s, "app", b"an orphan");
    // With a grace period, the orphan is young enough to be a push in flight.
    let r = s.gc(Duration::from_secs(3600)).unwrap();
    assert_eq!(r.removed, 0);
    assert!(s.blob_path(&orphan).exists());
    // Without one, it goes; what the manifest references stays.
    std::thread::sleep(Duration::from_millis(20));
    let r = s.gc(Duration::ZERO).unwrap();
    assert_eq!(r.removed, 1, "{r:?}");
    assert!(!s.blob_path(&orphan).exists());
    assert!(s.blob_path(&layer).exists() && s.blob_path(&config).exists());
    assert_eq!(s.blob_size("app", &orphan).unwrap(), None);
}
