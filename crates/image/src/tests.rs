//! Store-level tests: archives are built in memory with the `tar` crate and loaded into a store
//! backed by a real content store and an in-memory fake snapshotter that checks diff IDs.

use crate::oci::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, media_types};
use crate::{ImageError, ImageStore, ImportOptions, LoadedImage};
use berth_api_types::Filters;
use berth_api_types::image::{ImageDeleteItem, ImageSummary};
use berth_api_types::progress::JsonMessage;
use berth_common::error::HasKind;
use berth_common::{Digest, ErrorKind, Reference};
use berth_storage::snapshot::{AppliedLayer, RootfsMount, Snapshotter};
use berth_storage::unpack::decompress;
use berth_storage::{ContentStore, StorageError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------- fake snapshotter

/// Records snapshots in memory; unpacking hashes the decompressed stream like the real ones.
#[derive(Debug, Default)]
struct FakeSnapshotter {
    snaps: Mutex<BTreeMap<Digest, u64>>,
}

fn invalid(e: impl std::fmt::Display) -> StorageError {
    StorageError::InvalidLayer(e.to_string())
}

impl Snapshotter for FakeSnapshotter {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn exists(&self, chain_id: &Digest) -> bool {
        self.snaps.lock().unwrap().contains_key(chain_id)
    }
    fn apply_layer(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        layer: &mut dyn Read,
    ) -> Result<AppliedLayer, StorageError> {
        let chain_id = match parent {
            None => diff_id.clone(),
            Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
        };
        if let Some(size) = self.snaps.lock().unwrap().get(&chain_id) {
            return Ok(AppliedLayer {
                chain_id,
                diff_id: diff_id.clone(),
                size: *size,
                created: false,
            });
        }
        if let Some(p) = parent
            && !self.exists(p)
        {
            return Err(StorageError::SnapshotNotFound(p.to_string()));
        }
        let (_, mut r) = decompress(layer).map_err(invalid)?;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).map_err(invalid)?;
        let actual = Digest::of(&buf);
        if actual != *diff_id {
            return Err(StorageError::DiffIdMismatch {
                expected: diff_id.clone(),
                actual,
            });
        }
        let mut size = 0;
        for e in tar::Archive::new(&buf[..]).entries().map_err(invalid)? {
            size += e.map_err(invalid)?.size();
        }
        self.snaps.lock().unwrap().insert(chain_id.clone(), size);
        Ok(AppliedLayer {
            chain_id,
            diff_id: diff_id.clone(),
            size,
            created: true,
        })
    }
    fn remove(&self, chain_id: &Digest) -> Result<(), StorageError> {
        self.snaps.lock().unwrap().remove(chain_id);
        Ok(())
    }
    fn list(&self) -> Result<Vec<Digest>, StorageError> {
        Ok(self.snaps.lock().unwrap().keys().cloned().collect())
    }
    fn usage(&self, chain_id: &Digest) -> Result<u64, StorageError> {
        Ok(self
            .snaps
            .lock()
            .unwrap()
            .get(chain_id)
            .copied()
            .unwrap_or(0))
    }
    fn prepare(&self, _key: &str, _parent: Option<&Digest>) -> Result<RootfsMount, StorageError> {
        Err(invalid("not supported by the test snapshotter"))
    }
    fn remove_writable(&self, _key: &str) -> Result<(), StorageError> {
        Ok(())
    }
    fn writable_keys(&self) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
    fn mount(&self, _mount: &RootfsMount, _target: &Path) -> Result<(), StorageError> {
        Err(invalid("not supported by the test snapshotter"))
    }
    fn unmount(&self, _target: &Path) -> Result<(), StorageError> {
        Ok(())
    }
}

// ---------------------------------------------------------------- harness

struct H {
    dir: tempfile::TempDir,
    store: ImageStore,
    snap: Arc<FakeSnapshotter>,
    content: Arc<ContentStore>,
}

fn harness() -> H {
    let dir = tempfile::tempdir().unwrap();
    let content = Arc::new(ContentStore::open(&dir.path().join("content")).unwrap());
    let snap = Arc::new(FakeSnapshotter::default());
    let store =
        ImageStore::open(&dir.path().join("images"), content.clone(), snap.clone()).unwrap();
    H {
        dir,
        store,
        snap,
        content,
    }
}

/// Everything observable about a store, to prove a failed operation changed nothing.
#[derive(Debug, PartialEq)]
struct Observed {
    blobs: Vec<Digest>,
    snapshots: Vec<Digest>,
    images: Vec<ImageSummary>,
    ingest_leftovers: usize,
}

impl H {
    fn observe(&self) -> Observed {
        Observed {
            blobs: self.content.list().unwrap(),
            snapshots: self.snap.list().unwrap(),
            images: self.store.list(&Filters::default(), false).unwrap(),
            ingest_leftovers: std::fs::read_dir(self.dir.path().join("content/ingest"))
                .unwrap()
                .count(),
        }
    }

    fn load(&self, archive: &[u8]) -> Result<(Vec<LoadedImage>, Vec<JsonMessage>), ImageError> {
        let mut msgs = Vec::new();
        let loaded = self.store.load(archive, &mut |m| msgs.push(m))?;
        Ok((loaded, msgs))
    }

    fn reopen(&self) -> ImageStore {
        ImageStore::open(
            &self.dir.path().join("images"),
            self.content.clone(),
            self.snap.clone(),
        )
        .unwrap()
    }

    fn import(&self, tar: &[u8], reference: Option<&str>, changes: &[&str]) -> Digest {
        let opts = ImportOptions {
            reference: reference.map(|r| Reference::parse_tagged_default(r).unwrap()),
            changes: changes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        self.store.import(tar, opts).unwrap()
    }

    fn tags(&self, name: &str) -> Vec<String> {
        self.store.inspect(name).unwrap().repo_tags
    }

    /// Asserts that loading `archive` fails with a message containing `needle` and that the
    /// store is exactly as before.
    fn assert_rejected(&self, archive: &[u8], needle: &str) -> ImageError {
        let before = self.observe();
        let err = self.load(archive).expect_err("load should fail");
        assert!(
            err.to_string().contains(needle),
            "error {err:?} should mention {needle:?}"
        );
        assert_eq!(
            self.observe(),
            before,
            "store changed by a failed load ({err})"
        );
        err
    }
}

// ---------------------------------------------------------------- archive builders

enum TarEntry {
    File(String, Vec<u8>),
    Symlink(String, String),
}

fn file(path: impl Into<String>, data: impl Into<Vec<u8>>) -> TarEntry {
    TarEntry::File(path.into(), data.into())
}

fn tar_of(entries: Vec<TarEntry>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match e {
            TarEntry::File(path, data) => {
                h.set_size(data.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, path, data.as_slice()).unwrap();
            }
            TarEntry::Symlink(path, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, path, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// A layer tar holding the given files.
fn layer(files: &[(&str, &str)]) -> Vec<u8> {
    tar_of(files.iter().map(|(p, d)| file(*p, d.as_bytes())).collect())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn config_json(
    diff_ids: &[Digest],
    created: &str,
    labels: &[(&str, &str)],
    history: Value,
) -> Vec<u8> {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Cmd": ["sh"], "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))
    .unwrap()
}

fn oci_manifest(config: &[u8], layers: &[(&[u8], &str)]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": Digest::of(config), "size": config.len()},
        "layers": layers.iter().map(|(l, mt)| json!({"mediaType": mt, "digest": Digest::of(l), "size": l.len()})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn desc(blob: &[u8], media_type: &str, annotations: Value) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(blob), "size": blob.len(), "annotations": annotations})
}

fn blob_path(data: &[u8]) -> String {
    format!("blobs/sha256/{}", Digest::of(data).hex())
}

/// An image for the Docker 25 archive builder.
struct TestImage {
    layers: Vec<Vec<u8>>,
    created: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    tags: Vec<&'static str>,
    history: Value,
}

impl TestImage {
    fn new(layers: Vec<Vec<u8>>, created: &'static str, tags: Vec<&'static str>) -> TestImage {
        TestImage {
            layers,
            created,
            labels: Vec::new(),
            tags,
            history: json!([]),
        }
    }
}

/// A Docker 25+ archive (OCI layout + manifest.json); returns it with the image ids.
fn docker25(images: &[TestImage]) -> (Vec<u8>, Vec<Digest>) {
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut index = Vec::new();
    let mut manifest_json = Vec::new();
    let mut ids = Vec::new();
    for img in images {
        let diff_ids: Vec<Digest> = img.layers.iter().map(|l| Digest::of(l)).collect();
        let config = config_json(&diff_ids, img.created, &img.labels, img.history.clone());
        let layers: Vec<(&[u8], &str)> = img
            .layers
            .iter()
            .map(|l| (l.as_slice(), media_types::OCI_LAYER))
            .collect();
        let manifest = oci_manifest(&config, &layers);
        for t in &img.tags {
            let r = Reference::parse_tagged_default(t).unwrap();
            index.push(desc(
                &manifest,
                media_types::OCI_MANIFEST,
                json!({
                    ANNOTATION_IMAGE_NAME: r.to_string(),
                    ANNOTATION_REF_NAME: r.tag().unwrap(),
                }),
            ));
        }
        if img.tags.is_empty() {
            index.push(desc(&manifest, media_types::OCI_MANIFEST, json!({})));
        }
        manifest_json.push(json!({
            "Config": blob_path(&config),
            "RepoTags": img.tags,
            "Layers": img.layers.iter().map(|l| blob_path(l)).collect::<Vec<_>>(),
        }));
        ids.push(Digest::of(&config));
        for l in &img.layers {
            blobs.insert(blob_path(l), l.clone());
        }
        blobs.insert(blob_path(&config), config);
        blobs.insert(blob_path(&manifest), manifest);
    }
    let mut entries: Vec<TarEntry> = blobs.into_iter().map(|(p, d)| file(p, d)).collect();
    let index =
        json!({"schemaVersion": 2, "mediaType": media_types::OCI_INDEX, "manifests": index});
    entries.push(file("index.json", serde_json::to_vec(&index).unwrap()));
    entries.push(file(
        "manifest.json",
        serde_json::to_vec(&manifest_json).unwrap(),
    ));
    entries.push(file("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#));
    (tar_of(entries), ids)
}

/// A legacy docker-archive (`<v1id>/layer.tar`, `<config>.json`); the second image shares
/// the first layer through a symlink, as `docker save` writes duplicates.
fn legacy_archive(l1: &[u8], l2: &[u8], diff_ids: &[Digest]) -> (Vec<u8>, Digest, Digest) {
    let c1 = config_json(diff_ids, "2024-01-01T00:00:00Z", &[], json!([]));
    let c2 = config_json(&[Digest::of(l1)], "2024-01-02T00:00:00Z", &[], json!([]));
    let (id1, id2) = (Digest::of(&c1), Digest::of(&c2));
    let v = |s: &str| Digest::of(s.as_bytes()).hex().to_string();
    let (va, vb, vc) = (v("a"), v("b"), v("c"));
    let manifest = json!([
        {"Config": format!("{}.json", id1.hex()), "RepoTags": ["busybox:latest"],
         "Layers": [format!("{va}/layer.tar"), format!("{vb}/layer.tar")]},
        {"Config": format!("{}.json", id2.hex()), "RepoTags": ["other:1"],
         "Layers": [format!("{vc}/layer.tar")]},
    ]);
    let entries = vec![
        file(format!("{va}/VERSION"), "1.0"),
        file(format!("{va}/json"), "{}"),
        file(format!("{va}/layer.tar"), l1),
        file(format!("{vb}/VERSION"), "1.0"),
        file(format!("{vb}/json"), "{}"),
        file(format!("{vb}/layer.tar"), l2),
        file(format!("{vc}/json"), "{}"),
        TarEntry::Symlink(format!("{vc}/layer.tar"), format!("../{va}/layer.tar")),
        file(format!("{}.json", id1.hex()), c1),
        file(format!("{}.json", id2.hex()), c2),
        file("manifest.json", serde_json::to_vec(&manifest).unwrap()),
        file(
            "repositories",
            format!(r#"{{"busybox":{{"latest":"{vb}"}}}}"#),
        ),
    ];
    (tar_of(entries), id1, id2)
}

fn messages(msgs: &[JsonMessage]) -> String {
    msgs.iter().filter_map(|m| m.stream.clone()).collect()
}

fn archive_entries(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(archive).entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(path, data);
    }
    out
}

fn no_containers(_: &Digest) -> Option<String> {
    None
}

// ---------------------------------------------------------------- import

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ImageStore>();
}

#[test]
fn import_applies_changes_and_tags() {
    let h = harness();
    let tar = layer(&[("etc/hostname", "box"), ("bin/sh", "#!")]);
    let gz = gzip(&tar);
    let opts = ImportOptions {
        reference: Some(Reference::parse_tagged_default("myimg:v1").unwrap()),
        message: "hello".into(),
        changes: vec![
            r#"CMD ["sh"]"#.into(),
            "ENTRYPOINT /init --flag".into(),
            "ENV A=1 B=\"two words\"".into(),
            "ENV C three".into(),
            "WORKDIR /app".into(),
            "USER nobody".into(),
            "EXPOSE 80 53/udp".into(),
            "LABEL org.x=y".into(),
            "VOLUME /data".into(),
            "STOPSIGNAL SIGTERM".into(),
            "ONBUILD RUN make".into(),
        ],
        platform: Some("linux/arm64/v8".into()),
    };
    let id = h.store.import(gz.as_slice(), opts).unwrap();
    let inspect = h.store.inspect("myimg:v1").unwrap();
    assert_eq!(inspect.id, id.to_string());
    assert_eq!(inspect.repo_tags, ["myimg:v1"]);
    assert_eq!(inspect.comment, "hello");
    assert_eq!(
        (inspect.os.as_str(), inspect.architecture.as_str()),
        ("linux", "arm64")
    );
    assert_eq!(inspect.variant.as_deref(), Some("v8"));
    assert_eq!(inspect.root_fs.layers, [Digest::of(&tar).to_string()]);
    assert_eq!(inspect.graph_driver.name, "fake");
    assert!(!inspect.metadata.last_tag_time.is_empty());
    assert!(
        inspect.created.contains('T') && inspect.created.ends_with('Z'),
        "{}",
        inspect.created
    );
    let c = &inspect.config;
    assert_eq!(c.cmd.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(
        c.entrypoint.clone().unwrap(),
        ["/bin/sh", "-c", "/init --flag"]
    );
    assert_eq!(c.env.clone().unwrap(), ["A=1", "B=two words", "C=three"]);
    assert_eq!(c.working_dir, "/app");
    assert_eq!(c.user, "nobody");
    assert_eq!(
        c.exposed_ports
            .clone()
            .unwrap()
            .into_keys()
            .collect::<Vec<_>>(),
        ["53/udp", "80/tcp"]
    );
    assert_eq!(c.labels.clone().unwrap()["org.x"], "y");
    assert!(c.volumes.clone().unwrap().contains_key("/data"));
    assert_eq!(c.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(c.on_build.clone().unwrap(), ["RUN make"]);
    // The tarball is stored as given (gzip), unpacked once.
    assert!(h.content.contains(&Digest::of(&gz)));
    assert_eq!(h.snap.list().unwrap(), [Digest::of(&tar)]);
    assert_eq!(inspect.size, 5);
    let history = h.store.history("myimg:v1").unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].comment, "hello");
    assert_eq!(history[0].created_by, "");
    assert_eq!(history[0].id, id.to_string());
    assert_eq!(history[0].tags, ["myimg:v1"]);
    // The records survive a restart.
    assert_eq!(h.reopen().inspect("myimg:v1").unwrap(), inspect);
    assert_eq!(h.store.count(), 1);
    assert_eq!(h.store.layers(&id).unwrap(), [Digest::of(&tar)]);
    assert_eq!(h.store.image_config(&id).unwrap().os, "linux");
}

#[test]
fn import_refuses_unknown_instructions_before_storing_anything() {
    let h = harness();
    let before = h.observe();
    let opts = ImportOptions {
        changes: vec!["RUN make".into()],
        ..Default::default()
    };
    let err = h
        .store
        .import(layer(&[("a", "b")]).as_slice(), opts)
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown instruction: RUN");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(h.observe(), before);
    // A body that is not a tar is refused and leaves nothing behind either.
    let err = h
        .store
        .import(&b"not a tarball at all"[..], ImportOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(h.observe(), before);
}

// ---------------------------------------------------------------- load

#[test]
fn loads_a_legacy_docker_archive() {
    let h = harness();
    let (l1, l2) = (layer(&[("etc/a", "1")]), layer(&[("etc/b", "22")]));
    let (archive, id1, id2) = legacy_archive(&l1, &l2, &[Digest::of(&l1), Digest::of(&l2)]);
    let (loaded, msgs) = h.load(&archive).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id, id1);
    let text = messages(&msgs);
    assert!(text.contains("Loaded image: busybox:latest\n"), "{text}");
    assert!(text.contains("Loaded image: other:1\n"), "{text}");
    assert!(
        msgs.iter()
            .any(|m| m.status.as_deref() == Some("Loading layer"))
    );
    let inspect = h.store.inspect("busybox").unwrap();
    assert_eq!(inspect.id, id1.to_string());
    assert_eq!(
        inspect.root_fs.layers,
        [Digest::of(&l1).to_string(), Digest::of(&l2).to_string()]
    );
    assert_eq!(
        h.store.inspect("docker.io/library/other:1").unwrap().id,
        id2.to_string()
    );
    // Only the images' blobs stay (VERSION and json files are not kept): 2 configs,
    // 2 written manifests, 2 distinct layers.
    let blobs = h.content.list().unwrap();
    assert_eq!(blobs.len(), 6, "{blobs:?}");
    for d in [&id1, &id2, &Digest::of(&l1), &Digest::of(&l2)] {
        assert!(blobs.contains(d));
    }
    assert_eq!(h.snap.list().unwrap().len(), 2);
    let list = h.store.list(&Filters::default(), false).unwrap();
    assert_eq!(list[0].repo_tags, ["other:1"], "newest first");
    assert_eq!(list[1].repo_tags, ["busybox:latest"]);
    assert_eq!(
        (list[1].containers, list[1].shared_size, list[1].size),
        (-1, -1, 3)
    );
    // Loading again changes nothing and reports the same images.
    let before = h.observe();
    h.load(&archive).unwrap();
    assert_eq!(h.observe(), before);
}

#[test]
fn loads_a_docker_25_archive_keeping_its_manifest() {
    let h = harness();
    let l1 = layer(&[("hello", "world")]);
    let (archive, ids) = docker25(&[TestImage::new(
        vec![l1.clone()],
        "2024-05-01T10:00:00.5Z",
        vec!["app:v1"],
    )]);
    let (loaded, msgs) = h.load(&archive).unwrap();
    assert_eq!(
        loaded,
        [LoadedImage {
            id: ids[0].clone(),
            tags: vec![Reference::parse("app:v1").unwrap()]
        }]
    );
    assert_eq!(messages(&msgs), "Loaded image: app:v1\n");
    // Exactly the archive's blobs: its manifest was reused, none was synthesised.
    let entries = archive_entries(&archive);
    let mut expected: Vec<Digest> = entries
        .keys()
        .filter_map(|p| p.strip_prefix("blobs/sha256/"))
        .map(|hex| Digest::from_hex(hex).unwrap())
        .collect();
    expected.sort();
    assert_eq!(h.content.list().unwrap(), expected);
    assert_eq!(
        h.store.list(&Filters::default(), false).unwrap()[0].created,
        1714557600
    );
}

#[test]
fn loads_an_oci_archive_with_tag_only_and_full_ref_names() {
    let h = harness();
    let l1 = layer(&[("one", "1")]);
    let g1 = gzip(&l1);
    let c1 = config_json(&[Digest::of(&l1)], "2024-01-01T00:00:00Z", &[], json!([]));
    let m1 = oci_manifest(&c1, &[(&g1, media_types::OCI_LAYER_GZIP)]);
    let l2 = layer(&[("two", "2")]);
    let c2 = config_json(&[Digest::of(&l2)], "2024-01-02T00:00:00Z", &[], json!([]));
    let m2 = oci_manifest(&c2, &[(&l2, media_types::DOCKER_LAYER)]);
    // The second image sits behind a platform index, next to another platform's manifest.
    let host = crate::oci::Platform::host();
    let idx = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": [
            {"mediaType": media_types::OCI_MANIFEST, "digest": Digest::of(b"elsewhere"), "size": 9,
             "platform": {"os": "linux", "architecture": "no-such-arch"}},
            {"mediaType": media_types::OCI_MANIFEST, "digest": Digest::of(&m2), "size": m2.len(),
             "platform": {"os": host.os, "architecture": host.architecture}},
        ],
    }))
    .unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [
        desc(&m1, media_types::OCI_MANIFEST, json!({ANNOTATION_REF_NAME: "latest"})),
        desc(&idx, media_types::OCI_INDEX, json!({ANNOTATION_REF_NAME: "example.com/app:v2"})),
    ]});
    let mut entries: Vec<TarEntry> = [&g1, &c1, &m1, &l2, &c2, &m2, &idx]
        .iter()
        .map(|b| file(blob_path(b), b.to_vec()))
        .collect();
    entries.push(file("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#));
    entries.push(file("index.json", serde_json::to_vec(&index).unwrap()));
    let (loaded, msgs) = h.load(&tar_of(entries)).unwrap();
    assert_eq!(loaded.len(), 2);
    let text = messages(&msgs);
    assert!(
        text.contains(&format!("Loaded image ID: {}\n", Digest::of(&c1))),
        "{text}"
    );
    assert!(
        text.contains("Loaded image: example.com/app:v2\n"),
        "{text}"
    );
    assert_eq!(
        h.store.inspect("example.com/app:v2").unwrap().id,
        Digest::of(&c2).to_string()
    );
    let untagged = h.store.inspect(&Digest::of(&c1).to_string()).unwrap();
    assert!(untagged.repo_tags.is_empty());
    assert!(
        h.content.contains(&Digest::of(&g1)),
        "gzip layer stored as given"
    );
}

#[test]
fn loads_a_gzipped_podman_archive() {
    let h = harness();
    let l1 = layer(&[("bin/busybox", "elf")]);
    let d1 = Digest::of(&l1);
    let c = config_json(
        std::slice::from_ref(&d1),
        "2024-01-01T00:00:00Z",
        &[("vendor", "podman")],
        json!([]),
    );
    let id = Digest::of(&c);
    let manifest = json!([{
        "Config": format!("{}.json", id.hex()),
        "RepoTags": ["docker.io/library/busybox:latest"],
        "Layers": [format!("{}.tar", d1.hex())],
    }]);
    let archive = tar_of(vec![
        file(format!("{}.tar", d1.hex()), l1.clone()),
        file(format!("{}.json", id.hex()), c),
        file("manifest.json", serde_json::to_vec(&manifest).unwrap()),
    ]);
    let (loaded, _) = h.load(&gzip(&archive)).unwrap();
    assert_eq!(loaded[0].id, id);
    assert_eq!(h.tags("busybox"), ["busybox:latest"]);
    assert_eq!(
        h.store.list(&Filters::default(), false).unwrap()[0].labels["vendor"],
        "podman"
    );
}

// ---------------------------------------------------------------- save

#[test]
fn save_then_load_roundtrips() {
    let h = harness();
    let id = h.import(
        &gzip(&layer(&[("f", "data")])),
        Some("myimg:v1"),
        &["CMD [\"/f\"]"],
    );
    h.store.tag_name("myimg:v1", "myimg:v2").unwrap();
    h.store.tag_name("myimg:v1", "ghcr.io/org/other").unwrap();
    let mut archive = Vec::new();
    h.store
        .save(&["myimg:v1".to_string()], &mut archive)
        .unwrap();

    let entries = archive_entries(&archive);
    assert_eq!(entries["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
    assert!(entries.contains_key(&format!("blobs/sha256/{}", id.hex())));
    let manifest: Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", id.hex()));
    assert_eq!(
        manifest[0]["RepoTags"],
        json!(["myimg:v1"]),
        "only the tag named is saved"
    );
    let index: Value = serde_json::from_slice(&entries["index.json"]).unwrap();
    let ann = &index["manifests"][0]["annotations"];
    assert_eq!(ann[ANNOTATION_IMAGE_NAME], "docker.io/library/myimg:v1");
    assert_eq!(ann[ANNOTATION_REF_NAME], "v1");
    let repositories: Value = serde_json::from_slice(&entries["repositories"]).unwrap();
    assert!(repositories["myimg"]["v1"].is_string());

    let fresh = harness();
    let (loaded, msgs) = fresh.load(&archive).unwrap();
    assert_eq!(loaded[0].id, id);
    assert_eq!(messages(&msgs), "Loaded image: myimg:v1\n");
    assert_eq!(
        fresh.store.inspect("myimg:v1").unwrap().config,
        h.store.inspect("myimg:v1").unwrap().config
    );
    // Same blobs on both sides: the manifest came along instead of being rewritten.
    assert_eq!(fresh.content.list().unwrap(), h.content.list().unwrap());

    // Saved by id: no tags in the archive, loaded untagged.
    let mut by_id = Vec::new();
    h.store.save(&[id.short().to_string()], &mut by_id).unwrap();
    let manifest: Value =
        serde_json::from_slice(&archive_entries(&by_id)["manifest.json"]).unwrap();
    assert!(manifest[0]["RepoTags"].is_null());
    let third = harness();
    let (_, msgs) = third.load(&by_id).unwrap();
    assert_eq!(messages(&msgs), format!("Loaded image ID: {id}\n"));
    assert!(
        third.store.list(&Filters::default(), false).unwrap()[0]
            .repo_tags
            .is_empty()
    );
}

#[test]
fn saves_several_images_sharing_blobs_once() {
    let h = harness();
    let tar = layer(&[("shared", "layer")]);
    let a = h.import(&tar, Some("a"), &["LABEL n=a"]);
    let b = h.import(&tar, Some("b"), &["LABEL n=b"]);
    assert_ne!(a, b);
    let mut archive = Vec::new();
    let names = ["a".to_string(), "b:latest".to_string(), a.to_string()];
    h.store.save(&names, &mut archive).unwrap();
    let mut count = 0;
    for e in tar::Archive::new(archive.as_slice()).entries().unwrap() {
        if e.unwrap().path().unwrap().ends_with(Digest::of(&tar).hex()) {
            count += 1;
        }
    }
    assert_eq!(count, 1);
    let fresh = harness();
    let (loaded, _) = fresh.load(&archive).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(fresh.store.resolve("a").unwrap(), a);
    assert_eq!(fresh.store.resolve("b").unwrap(), b);
}

#[test]
fn save_fails_on_a_corrupted_blob() {
    let h = harness();
    let tar = layer(&[("f", "0123456789")]);
    h.import(&tar, Some("x"), &[]);
    let path = h.content.blob_path(&Digest::of(&tar));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[600] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = h
        .store
        .save(&["x".to_string()], &mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("corrupted"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Corrupted);
    let err = h
        .store
        .save(&["nope".to_string()], &mut Vec::new())
        .unwrap_err();
    assert_eq!(err.to_string(), "No such image: nope:latest");
}

// ---------------------------------------------------------------- bad archives

/// A store that already holds an image whose layer the bad archives reuse, so rollback must
/// tell what the failed load created from what was there before.
fn populated() -> (H, Vec<u8>) {
    let h = harness();
    let l1 = layer(&[("etc/a", "1")]);
    h.import(&l1, Some("existing"), &[]);
    (h, l1)
}

#[test]
fn truncated_archives_are_refused_and_leave_no_trace() {
    let (h, l1) = populated();
    let l2 = layer(&[("etc/b", "2".repeat(5000).as_str())]);
    let (archive, _, _) = legacy_archive(&l1, &l2, &[Digest::of(&l1), Digest::of(&l2)]);
    let err = h.assert_rejected(&archive[..archive.len() / 2], "unexpected end of archive");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // Cut exactly at an entry boundary: only the end-of-archive marker is missing.
    h.assert_rejected(
        &archive[..archive.len() - 1024],
        "unexpected end of archive",
    );
    h.assert_rejected(&gzip(&archive)[..300], "unexpected end of archive");
    h.assert_rejected(b"", "unexpected end of archive");
}

#[test]
fn layer_not_matching_its_diff_id_is_refused() {
    let (h, l1) = populated();
    let l2 = layer(&[("etc/b", "2")]);
    let (archive, _, _) =
        legacy_archive(&l1, &l2, &[Digest::of(&l1), Digest::of(b"something else")]);
    let err = h.assert_rejected(&archive, "diff ID mismatch");
    assert!(
        err.to_string().contains("/layer.tar"),
        "names the layer: {err}"
    );
    // A fresh bottom layer is unpacked before the second one fails: its snapshot goes too.
    let fresh = layer(&[("fresh", "1")]);
    let (archive, _, _) = legacy_archive(
        &fresh,
        &l2,
        &[Digest::of(&fresh), Digest::of(b"something else")],
    );
    h.assert_rejected(&archive, "diff ID mismatch");
    // Same in an OCI layout, where the diff ID of an already unpacked layer is claimed by
    // different bytes.
    let l3 = layer(&[("evil", "x")]);
    let c = config_json(&[Digest::of(&l1)], "2024-01-01T00:00:00Z", &[], json!([]));
    let m = oci_manifest(&c, &[(&l3, media_types::OCI_LAYER)]);
    let index =
        json!({"schemaVersion": 2, "manifests": [desc(&m, media_types::OCI_MANIFEST, json!({}))]});
    let archive = tar_of(vec![
        file(blob_path(&l3), l3.clone()),
        file(blob_path(&c), c.clone()),
        file(blob_path(&m), m.clone()),
        file("index.json", serde_json::to_vec(&index).unwrap()),
    ]);
    h.assert_rejected(&archive, "diff ID mismatch");
}

#[test]
fn blob_not_matching_its_name_is_refused() {
    let (h, _) = populated();
    let l1 = layer(&[("new", "layer")]);
    let (archive, _) = docker25(&[TestImage::new(
        vec![l1.clone()],
        "2024-01-01T00:00:00Z",
        vec!["bad:1"],
    )]);
    // Swap the layer's bytes for others of the same length under the same name.
    let mut tampered = l1.clone();
    tampered[600] ^= 1;
    let pos = archive
        .windows(l1.len())
        .position(|w| w == l1.as_slice())
        .unwrap();
    let mut bad = archive.clone();
    bad[pos..pos + l1.len()].copy_from_slice(&tampered);
    let err = h.assert_rejected(&bad, "digest mismatch");
    assert!(err.to_string().contains(&blob_path(&l1)), "{err}");
}

#[test]
fn unknown_media_types_are_refused() {
    let (h, _) = populated();
    let l = layer(&[("x", "y")]);
    let c = config_json(&[Digest::of(&l)], "2024-01-01T00:00:00Z", &[], json!([]));
    let m = oci_manifest(&c, &[(&l, "application/vnd.example.weird")]);
    let index =
        json!({"schemaVersion": 2, "manifests": [desc(&m, media_types::OCI_MANIFEST, json!({}))]});
    let archive = tar_of(vec![
        file(blob_path(&l), l.clone()),
        file(blob_path(&c), c.clone()),
        file(blob_path(&m), m.clone()),
        file("index.json", serde_json::to_vec(&index).unwrap()),
    ]);
    h.assert_rejected(&archive, "application/vnd.example.weird");
    let index =
        json!({"schemaVersion": 2, "manifests": [desc(&m, "application/x-nonsense", json!({}))]});
    let archive = tar_of(vec![
        file(blob_path(&m), m.clone()),
        file("index.json", serde_json::to_vec(&index).unwrap()),
    ]);
    h.assert_rejected(&archive, "application/x-nonsense");
}

#[test]
fn escaping_entry_names_are_refused() {
    let (h, _) = populated();
    // The tar crate will not write such names, so forge the header by hand.
    let mut b = tar::Builder::new(Vec::new());
    let data = b"owned";
    let mut header = tar::Header::new_old();
    let name = b"../../etc/x";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    b.append(&header, &data[..]).unwrap();
    let archive = b.into_inner().unwrap();
    h.assert_rejected(&archive, "../../etc/x");
    assert!(!h.dir.path().join("etc").exists());
}

#[test]
fn inconsistent_archives_are_refused() {
    let (h, l1) = populated();
    let l2 = layer(&[("z", "z")]);
    let (good, _, _) = legacy_archive(&l1, &l2, &[Digest::of(&l1), Digest::of(&l2)]);
    let entries: Vec<TarEntry> = archive_entries(&good)
        .into_iter()
        .filter(|(p, _)| p != "manifest.json")
        .map(|(p, d)| file(p, d))
        .collect();
    let with_manifest = |m: &str| {
        let mut e: Vec<TarEntry> = entries
            .iter()
            .map(|e| match e {
                TarEntry::File(p, d) => file(p.clone(), d.clone()),
                TarEntry::Symlink(p, t) => TarEntry::Symlink(p.clone(), t.clone()),
            })
            .collect();
        e.push(file("manifest.json", m.to_string()));
        tar_of(e)
    };
    h.assert_rejected(&with_manifest("[{\"Config\": 3"), "manifest.json");
    h.assert_rejected(
        &with_manifest("[{\"RepoTags\": []}]"),
        "missing field `Config`",
    );
    h.assert_rejected(
        &with_manifest(r#"[{"Config":"nope.json","Layers":[]}]"#),
        "config nope.json is not in the archive",
    );
    let id = Digest::of(&config_json(
        &[Digest::of(&l1), Digest::of(&l2)],
        "2024-01-01T00:00:00Z",
        &[],
        json!([]),
    ));
    let m = format!(
        r#"[{{"Config":"{}.json","Layers":["missing/layer.tar"]}}]"#,
        id.hex()
    );
    h.assert_rejected(
        &with_manifest(&m),
        "layer missing/layer.tar is not in the archive",
    );
    let m = format!(
        r#"[{{"Config":"{}.json","RepoTags":["UPPER:case"],"Layers":[]}}]"#,
        id.hex()
    );
    h.assert_rejected(&with_manifest(&m), "must be lowercase");
    h.assert_rejected(
        &tar_of(vec![file("hello.txt", "hi")]),
        "no manifest.json or index.json",
    );
}

// ---------------------------------------------------------------- names, tags, queries

#[test]
fn tags_must_be_valid_references() {
    let h = harness();
    h.import(&layer(&[("a", "b")]), Some("img"), &[]);
    let before = h.observe();
    let err = h.store.tag_name("img", "UPPER:case").unwrap_err();
    assert!(err.to_string().contains("must be lowercase"), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = h.store.tag_name("img", "a:b:c").unwrap_err();
    assert!(
        err.to_string().contains("invalid reference format"),
        "{err}"
    );
    let d = Reference::parse(&format!("img@{}", Digest::of(b"x"))).unwrap();
    assert!(h.store.tag("img", &d).is_err());
    assert_eq!(h.observe(), before);
    let err = h.store.tag_name("nope", "x").unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.kind()),
        ("No such image: nope:latest", ErrorKind::NotFound)
    );
}

#[test]
fn resolves_ids_prefixes_and_names() {
    let h = harness();
    let tar = layer(&[("a", "b")]);
    let mut ids: Vec<Digest> = Vec::new();
    let (x, y) = loop {
        let id = h.import(&tar, None, &[&format!("LABEL n={}", ids.len())]);
        if let Some(other) = ids.iter().find(|o| o.hex()[..1] == id.hex()[..1]) {
            break (other.clone(), id);
        }
        ids.push(id);
    };
    let err = h.store.resolve(&x.hex()[..1]).unwrap_err();
    assert!(matches!(err, ImageError::AmbiguousPrefix { .. }), "{err}");
    assert_eq!(h.store.resolve(x.short()).unwrap(), x);
    assert_eq!(
        h.store
            .resolve(&format!("sha256:{}", &y.hex()[..12]))
            .unwrap(),
        y
    );
    assert_eq!(h.store.resolve(y.hex()).unwrap(), y);
    assert_eq!(h.store.resolve(&y.to_string()).unwrap(), y);
    h.store
        .tag(&y.to_string(), &Reference::parse("busybox").unwrap())
        .unwrap();
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox",
        "library/busybox:latest",
    ] {
        assert_eq!(h.store.resolve(name).unwrap(), y, "{name}");
    }
    let err = h.store.resolve("busybox:1.0").unwrap_err();
    assert_eq!(err.to_string(), "No such image: busybox:1.0");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = h.store.resolve("docker.io/library/nope").unwrap_err();
    assert_eq!(err.to_string(), "No such image: nope:latest");
    assert!(
        h.store
            .resolve(&format!("sha256:{}", "0".repeat(64)))
            .is_err()
    );
}

#[test]
fn lists_with_filters_and_shows_history() {
    let h = harness();
    let (l1, l2) = (layer(&[("one", "1")]), layer(&[("two", "22")]));
    let mut old = TestImage::new(
        vec![l1.clone()],
        "2024-01-01T00:00:00Z",
        vec!["busybox:latest", "busybox:1.36"],
    );
    old.labels = vec![("tier", "base")];
    old.history = json!([
        {"created": "2024-01-01T00:00:00Z", "created_by": "ADD rootfs /"},
        {"created": "2024-01-01T00:00:01Z", "created_by": "CMD [\"sh\"]", "empty_layer": true},
    ]);
    let mut new = TestImage::new(
        vec![l1.clone(), l2.clone()],
        "2024-02-01T00:00:00Z",
        vec!["app:v1"],
    );
    new.labels = vec![("tier", "app")];
    let (archive, ids) = docker25(&[old, new]);
    h.load(&archive).unwrap();
    let list = |f: &[&str]| {
        let f = Filters::from_cli(&f.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        h.store
            .list(&f, false)
            .map(|l| l.into_iter().map(|s| s.repo_tags).collect::<Vec<_>>())
    };
    assert_eq!(
        list(&[]).unwrap(),
        [vec!["app:v1"], vec!["busybox:1.36", "busybox:latest"]]
    );
    assert_eq!(
        list(&["reference=busy*"]).unwrap(),
        [vec!["busybox:1.36", "busybox:latest"]]
    );
    assert_eq!(
        list(&["reference=busybox:lat*"]).unwrap(),
        [vec!["busybox:latest"]]
    );
    assert_eq!(list(&["label=tier=app"]).unwrap(), [vec!["app:v1"]]);
    assert_eq!(list(&["label=tier"]).unwrap().len(), 2);
    assert_eq!(
        list(&["before=app:v1"]).unwrap(),
        [vec!["busybox:1.36", "busybox:latest"]]
    );
    assert_eq!(list(&["since=busybox"]).unwrap(), [vec!["app:v1"]]);
    assert_eq!(list(&["dangling=true"]).unwrap().len(), 0);
    let err = list(&["bogus=1"]).unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.kind()),
        ("invalid filter 'bogus'", ErrorKind::InvalidArgument)
    );
    assert!(list(&["dangling=maybe"]).is_err());
    // app:v1 moves to the old image: the new one becomes dangling, untagged in listings.
    h.store.tag_name("busybox", "app:v1").unwrap();
    let dangling = h
        .store
        .list(
            &Filters::from_cli(&["dangling=true".into()]).unwrap(),
            false,
        )
        .unwrap();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].id, ids[1].to_string());
    assert!(dangling[0].repo_tags.is_empty());

    let history = h.store.history("busybox").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].id, ids[0].to_string());
    assert_eq!(history[0].created_by, "CMD [\"sh\"]");
    assert_eq!(history[0].size, 0);
    assert_eq!(
        history[0].tags,
        ["app:v1", "busybox:1.36", "busybox:latest"]
    );
    assert_eq!(history[1].id, "<missing>");
    assert_eq!(history[1].created_by, "ADD rootfs /");
    assert_eq!(history[1].size, 1);
    assert_eq!(history[1].created, 1704067200);
    // Without history in the config, one row per layer.
    assert_eq!(h.store.history(&ids[1].to_string()).unwrap().len(), 2);
}

// ---------------------------------------------------------------- remove, prune, gc

fn untagged(s: &str) -> ImageDeleteItem {
    ImageDeleteItem {
        untagged: Some(s.into()),
        deleted: None,
    }
}

fn deleted(d: &Digest) -> ImageDeleteItem {
    ImageDeleteItem {
        untagged: None,
        deleted: Some(d.to_string()),
    }
}

#[test]
fn remove_follows_docker_rules() {
    let h = harness();
    let tar = layer(&[("a", "1")]);
    let id = h.import(&tar, Some("a:1"), &[]);
    h.store.tag_name("a:1", "a:2").unwrap();
    h.store.tag_name("a:1", "b:1").unwrap();

    assert_eq!(
        h.store.remove("a:1", false, false, &no_containers).unwrap(),
        [untagged("a:1")]
    );
    assert_eq!(h.tags(&id.to_string()), ["a:2", "b:1"]);

    let err = h
        .store
        .remove(id.short(), false, false, &no_containers)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            id.short()
        )
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let running = |_: &Digest| Some("c0ffee123456".to_string());
    let err = h
        .store
        .remove(id.short(), true, false, &running)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container c0ffee123456",
            id.short()
        )
    );

    let items = h
        .store
        .remove(id.short(), true, false, &no_containers)
        .unwrap();
    assert_eq!(
        items,
        [
            untagged("a:2"),
            untagged("b:1"),
            deleted(&id),
            deleted(&Digest::of(&tar))
        ]
    );
    assert_eq!(h.store.count(), 0);
    assert!(h.content.list().unwrap().is_empty());
    assert!(h.snap.list().unwrap().is_empty());
    let err = h
        .store
        .remove("a:2", false, false, &no_containers)
        .unwrap_err();
    assert_eq!(err.to_string(), "No such image: a:2");
}

#[test]
fn removing_the_last_tag_deletes_but_keeps_shared_layers() {
    let h = harness();
    let tar = layer(&[("shared", "1")]);
    let y = h.import(&tar, Some("y"), &["LABEL n=y"]);
    let z = h.import(&tar, Some("z:1"), &["LABEL n=z"]);
    let running = |_: &Digest| Some("c0ffee123456".to_string());
    let err = h.store.remove("z:1", false, false, &running).unwrap_err();
    assert!(
        err.to_string()
            .contains("unable to remove repository reference \"z:1\" (must force)"),
        "{err}"
    );
    assert_eq!(
        h.store.remove("y", false, false, &no_containers).unwrap(),
        [untagged("y:latest"), deleted(&y)]
    );
    assert!(
        h.content.contains(&Digest::of(&tar)),
        "z still uses the layer"
    );
    assert_eq!(h.snap.list().unwrap().len(), 1);
    // noprune keeps the data until gc.
    let items = h.store.remove("z:1", false, true, &no_containers).unwrap();
    assert_eq!(items, [untagged("z:1"), deleted(&z)]);
    assert!(h.content.contains(&Digest::of(&tar)));
    assert!(h.store.gc().unwrap() > 0);
    assert!(h.content.list().unwrap().is_empty());
    assert!(h.snap.list().unwrap().is_empty());
}

#[test]
fn prune_removes_dangling_then_unused() {
    let h = harness();
    let tar = layer(&[("p", "1")]);
    let first = h.import(&tar, Some("t:1"), &["LABEL keep=no"]);
    let second = h.import(&tar, Some("t:1"), &["LABEL keep=yes"]);
    let third = h.import(&layer(&[("q", "2")]), Some("u"), &["LABEL keep=no"]);
    assert_eq!(
        h.store.inspect(&first.to_string()).unwrap().repo_tags.len(),
        0
    );

    let err = h
        .store
        .prune(
            true,
            &Filters::from_cli(&["bogus=1".into()]).unwrap(),
            &no_containers,
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid filter 'bogus'");

    let report = h
        .store
        .prune(true, &Filters::default(), &no_containers)
        .unwrap();
    assert_eq!(report.images_deleted.unwrap(), [deleted(&first)]);
    assert!(report.space_reclaimed > 0);
    assert_eq!(h.store.count(), 2);
    assert!(
        h.content.contains(&Digest::of(&tar)),
        "second still uses the layer"
    );

    let report = h
        .store
        .prune(true, &Filters::default(), &no_containers)
        .unwrap();
    assert_eq!(report.images_deleted, None);

    let in_use = |id: &Digest| (*id == third).then(|| "c0ffee123456".to_string());
    let f = Filters::from_cli(&["label=keep=no".into()]).unwrap();
    let report = h.store.prune(false, &f, &in_use).unwrap();
    assert_eq!(
        report.images_deleted, None,
        "third is in use, second has keep=yes"
    );
    let f = Filters::from_cli(&["label!=keep=yes".into(), "until=1h".into()]).unwrap();
    assert_eq!(
        h.store
            .prune(false, &f, &no_containers)
            .unwrap()
            .images_deleted,
        None,
        "too recent"
    );
    let f = Filters::from_cli(&["label!=keep=yes".into()]).unwrap();
    let items = h
        .store
        .prune(false, &f, &no_containers)
        .unwrap()
        .images_deleted
        .unwrap();
    assert_eq!(items[0], untagged("u:latest"));
    assert_eq!(items[1], deleted(&third));
    assert_eq!(h.store.count(), 1);
    assert_eq!(h.store.resolve("t:1").unwrap(), second);
}

#[test]
fn prune_reports_a_shared_layer_once() {
    let h = harness();
    let tar = layer(&[("shared", "1")]);
    let a = h.import(&tar, Some("a:1"), &["LABEL n=a"]);
    let b = h.import(&tar, Some("b:1"), &["LABEL n=b"]);
    let items = h
        .store
        .prune(false, &Filters::default(), &no_containers)
        .unwrap()
        .images_deleted
        .unwrap();
    for (n, i) in items.iter().enumerate() {
        assert!(!items[..n].contains(i), "{i:?} reported twice in {items:?}");
    }
    assert!(items.contains(&deleted(&a)) && items.contains(&deleted(&b)));
    assert_eq!(h.store.count(), 0);
}

#[test]
fn gc_collects_what_no_image_references() {
    let h = harness();
    let tar = layer(&[("keep", "1")]);
    let id = h.import(&tar, Some("keep"), &[]);
    // What a load killed half-way leaves behind: a blob and a snapshot nobody references.
    let stray = layer(&[("stray", "22")]);
    h.content.write_bytes(&stray).unwrap();
    h.snap
        .apply_layer(None, &Digest::of(&stray), &mut stray.as_slice())
        .unwrap();
    let store = h.reopen();
    assert!(store.gc().unwrap() > 0);
    assert!(!h.content.contains(&Digest::of(&stray)));
    assert_eq!(h.snap.list().unwrap(), [Digest::of(&tar)]);
    assert_eq!(store.resolve("keep").unwrap(), id);
    assert_eq!(store.gc().unwrap(), 0);
}

// ---------------------------------------------------------------- interop with skopeo

/// Runs skopeo (Debian's, the peer the design names); `None` when it is not installed.
fn skopeo(args: &[&str]) -> Option<std::process::Output> {
    let out = std::process::Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out)
}

#[test]
fn skopeo_reads_our_archives_and_we_load_its_archives() {
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_err()
    {
        berth_common::skip::skip("skopeo not installed");
        return;
    }
    let h = harness();
    let plain = layer(&[("etc/os-release", "ID=berth\n")]);
    let base = h.import(&plain, Some("base:1"), &[]);
    let id = h.import(
        &gzip(&layer(&[("bin/app", "run")])),
        Some("interop:v1"),
        &["CMD [\"/bin/app\"]"],
    );
    let dir = h.dir.path();
    let saved = dir.join("saved.tar");
    let file = std::fs::File::create(&saved).unwrap();
    h.store
        .save(&["interop:v1".into(), "base:1".into()], file)
        .unwrap();
    let spec = |kind: &str, p: &Path, rest: &str| format!("{kind}:{}{rest}", p.display());

    // skopeo reads manifest.json of the docker-archive view...
    let out = skopeo(&[
        "inspect",
        "--config",
        &spec("docker-archive", &saved, ":interop:v1"),
    ])
    .unwrap();
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["config"]["Cmd"], json!(["/bin/app"]));
    let out = skopeo(&["inspect", &spec("docker-archive", &saved, ":base:1")]).unwrap();
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["Layers"].as_array().unwrap().len(), 1, "{info}");
    // ...and the OCI layout view of the same file, where the ref name is the bare tag.
    let out = skopeo(&["inspect", "--raw", &spec("oci-archive", &saved, ":v1")]);
    let manifest: Value = serde_json::from_slice(&out.unwrap().stdout).unwrap();
    assert_eq!(manifest["config"]["digest"], id.to_string());

    // What skopeo writes loads back to the same images.
    let oci = dir.join("oci.tar");
    skopeo(&[
        "copy",
        &spec("docker-archive", &saved, ":interop:v1"),
        &spec("oci-archive", &oci, ":interop:v2"),
    ]);
    let docker = dir.join("docker.tar");
    skopeo(&[
        "copy",
        &spec("docker-archive", &saved, ":base:1"),
        &spec("docker-archive", &docker, ":base:2"),
    ]);
    let fresh = harness();
    let (_, msgs) = fresh.load(&std::fs::read(&oci).unwrap()).unwrap();
    // Converting Docker's manifest format to OCI, skopeo rewrites the config (it drops
    // Docker's top-level `comment`), so the id differs but the content is the same.
    assert_eq!(messages(&msgs), "Loaded image: interop:v2\n");
    let ours = h.store.inspect("interop:v1").unwrap();
    let theirs = fresh.store.inspect("interop:v2").unwrap();
    assert_eq!((theirs.config, theirs.root_fs), (ours.config, ours.root_fs));
    // OCI to OCI keeps the config, hence the id.
    let same = dir.join("same.tar");
    skopeo(&[
        "copy",
        &spec("oci-archive", &saved, ":v1"),
        &spec("oci-archive", &same, ":interop:v3"),
    ]);
    let (loaded, msgs) = fresh.load(&std::fs::read(&same).unwrap()).unwrap();
    assert_eq!(loaded[0].id, id, "{}", messages(&msgs));
    let (loaded, msgs) = fresh.load(&std::fs::read(&docker).unwrap()).unwrap();
    assert_eq!(loaded[0].id, base);
    assert_eq!(messages(&msgs), "Loaded image: base:2\n");
}

/// Loads real-world archives listed in `BERTH_TEST_ARCHIVES` (colon-separated paths, e.g.
/// made by `podman save` or `docker save`), then saves and reloads each: a manual interop
/// check that does nothing when the variable is unset.
#[test]
fn loads_archives_named_in_the_environment() {
    let Ok(list) = std::env::var("BERTH_TEST_ARCHIVES") else {
        return;
    };
    for path in list.split(':').filter(|p| !p.is_empty()) {
        let h = harness();
        let (loaded, msgs) = h.load(&std::fs::read(path).unwrap()).unwrap();
        eprintln!("{path}: {}", messages(&msgs).trim_end());
        let names: Vec<String> = loaded.iter().map(|l| l.id.to_string()).collect();
        let mut archive = Vec::new();
        h.store.save(&names, &mut archive).unwrap();
        let (again, _) = harness().load(&archive).unwrap();
        assert_eq!(
            again.iter().map(|l| &l.id).collect::<Vec<_>>(),
            loaded.iter().map(|l| &l.id).collect::<Vec<_>>()
        );
    }
}

#[test]
fn loading_a_taken_tag_leaves_the_old_image_dangling() {
    let h = harness();
    let opts = ImportOptions {
        reference: Some(Reference::parse("busybox").unwrap()),
        ..Default::default()
    };
    let old = h
        .store
        .import(layer(&[("old", "1")]).as_slice(), opts)
        .unwrap();
    assert_eq!(
        h.tags("busybox:latest"),
        ["busybox:latest"],
        "a reference without tag gets latest"
    );
    let (archive, ids) = docker25(&[TestImage::new(
        vec![layer(&[("new", "2")])],
        "2024-01-01T00:00:00Z",
        vec!["busybox:latest"],
    )]);
    let (_, msgs) = h.load(&archive).unwrap();
    assert_eq!(
        messages(&msgs),
        format!(
            "The image busybox:latest already exists, renaming the old one with ID {old} to empty string\nLoaded image: busybox:latest\n"
        )
    );
    assert_eq!(h.store.resolve("busybox").unwrap(), ids[0]);
    assert!(
        h.store
            .inspect(&old.to_string())
            .unwrap()
            .repo_tags
            .is_empty()
    );
}

#[test]
fn saving_a_repository_saves_all_its_tags() {
    let h = harness();
    let a = h.import(&layer(&[("a", "1")]), Some("repo:one"), &[]);
    let b = h.import(&layer(&[("b", "2")]), Some("repo:two"), &[]);
    h.import(&layer(&[("c", "3")]), Some("other"), &[]);
    let mut archive = Vec::new();
    h.store.save(&["repo".to_string()], &mut archive).unwrap();
    let manifest: Value =
        serde_json::from_slice(&archive_entries(&archive)["manifest.json"]).unwrap();
    let tags: Vec<&Value> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["RepoTags"])
        .collect();
    assert_eq!(tags, [&json!(["repo:one"]), &json!(["repo:two"])]);
    let fresh = harness();
    let (loaded, _) = fresh.load(&archive).unwrap();
    assert_eq!(loaded.iter().map(|l| &l.id).collect::<Vec<_>>(), [&a, &b]);
}

#[test]
fn loads_the_platform_present_in_a_multi_platform_archive() {
    let h = harness();
    let l = layer(&[("arm", "64")]);
    let c = config_json(&[Digest::of(&l)], "2024-01-01T00:00:00Z", &[], json!([]));
    let m = oci_manifest(&c, &[(&l, media_types::OCI_LAYER)]);
    // An index naming two foreign platforms, only one of which the archive carries.
    let idx = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": [
            {"mediaType": media_types::OCI_MANIFEST, "digest": Digest::of(b"absent"), "size": 6,
             "platform": {"os": "linux", "architecture": "no-such-arch"}},
            {"mediaType": media_types::OCI_MANIFEST, "digest": Digest::of(&m), "size": m.len(),
             "platform": {"os": "linux", "architecture": "other-arch"}},
        ],
    }))
    .unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [
        desc(&idx, media_types::OCI_INDEX, json!({ANNOTATION_IMAGE_NAME: "docker.io/library/multi:1"})),
    ]});
    let mut entries: Vec<TarEntry> = [&l, &c, &m, &idx]
        .iter()
        .map(|b| file(blob_path(b), b.to_vec()))
        .collect();
    entries.push(file("index.json", serde_json::to_vec(&index).unwrap()));
    let (loaded, _) = h.load(&tar_of(entries)).unwrap();
    assert_eq!(loaded[0].id, Digest::of(&c));
    assert_eq!(h.tags("multi:1"), ["multi:1"]);
}

// ---------------------------------------------------------------- commit

/// Commit options for `parent` with everything else empty.
fn commit_opts<'a>(parent: &Digest, layer: &'a mut dyn Read) -> crate::CommitOptions<'a> {
    crate::CommitOptions {
        parent: parent.clone(),
        layer,
        reference: None,
        comment: String::new(),
        author: String::new(),
        changes: Vec::new(),
        config: None,
        created_by: String::new(),
    }
}

#[test]
fn commit_stacks_a_layer_on_the_parent() {
    let h = harness();
    let base_tar = layer(&[("etc/a", "1")]);
    let base = h.import(&base_tar, Some("base"), &[r#"CMD ["old"]"#, "ENV BASE=1"]);
    let base_before = h.store.inspect("base").unwrap();
    let diff = tar_of(vec![file("etc/committed", "hello"), file("etc/.wh.a", "")]);

    let mut reader = &diff[..];
    let opts = crate::CommitOptions {
        reference: Some(Reference::parse("mine").unwrap()),
        comment: "a message".into(),
        author: "Jane <jane@example.com>".into(),
        changes: vec![r#"CMD ["sh"]"#.into(), "ENV A=1".into()],
        created_by: "/bin/sh -c touch /etc/committed".into(),
        ..commit_opts(&base, &mut reader)
    };
    let id = h.store.commit(opts).unwrap();

    let inspect = h.store.inspect("mine:latest").unwrap();
    assert_eq!(inspect.id, id.to_string());
    assert_eq!(inspect.repo_tags, ["mine:latest"]);
    assert_eq!(inspect.author, "Jane <jane@example.com>");
    assert_eq!(inspect.comment, "a message");
    assert_eq!(
        inspect.root_fs.layers,
        [
            Digest::of(&base_tar).to_string(),
            Digest::of(&diff).to_string()
        ]
    );
    assert_eq!(inspect.config.cmd.clone().unwrap(), ["sh"]);
    assert_eq!(inspect.config.env.clone().unwrap(), ["BASE=1", "A=1"]);
    assert_eq!((inspect.os.as_str(), inspect.architecture.as_str()), {
        (base_before.os.as_str(), base_before.architecture.as_str())
    });
    assert_eq!(inspect.size, 1 + 5);
    let history = h.store.history("mine").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].id, id.to_string());
    assert_eq!(history[0].created_by, "/bin/sh -c touch /etc/committed");
    assert_eq!(history[0].comment, "a message");
    assert_eq!(history[1].comment, "Imported from -");

    // The layer is stored as given (uncompressed) and unpacked on top of the parent's chain.
    assert!(h.content.contains(&Digest::of(&diff)));
    let chain = h.store.layers(&id).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0], h.store.layers(&base).unwrap()[0]);
    assert!(chain.iter().all(|c| h.snap.exists(c)));
    let config = h.store.image_config(&id).unwrap();
    assert_eq!(config.rootfs.diff_ids.len(), 2);
    assert_eq!(config.author.as_deref(), Some("Jane <jane@example.com>"));
    assert_eq!(
        config.history[1].author.as_deref(),
        config.author.as_deref()
    );
    assert_eq!(h.reopen().inspect("mine").unwrap(), inspect);

    // A given run config replaces the parent's; empty texts record nothing.
    let mut reader = &diff[..];
    let opts = crate::CommitOptions {
        config: Some(berth_api_types::image::ImageConfig {
            env: Some(vec!["X=1".into()]),
            ..Default::default()
        }),
        ..commit_opts(&base, &mut reader)
    };
    let plain = h.store.commit(opts).unwrap();
    let inspect = h.store.inspect(&plain.to_string()).unwrap();
    assert_eq!(inspect.config.env.clone().unwrap(), ["X=1"]);
    assert_eq!(inspect.config.cmd, None);
    assert_eq!(
        (inspect.author.as_str(), inspect.comment.as_str()),
        ("", "")
    );
    assert!(inspect.repo_tags.is_empty());
    assert_eq!(
        h.store.layers(&plain).unwrap(),
        chain,
        "same parent, same diff"
    );

    // Removing the committed images keeps the parent whole.
    h.store
        .remove("mine", false, false, &no_containers)
        .unwrap();
    h.store
        .remove(&plain.to_string(), false, false, &no_containers)
        .unwrap();
    assert_eq!(h.store.inspect("base").unwrap(), base_before);
    assert_eq!(h.snap.list().unwrap(), h.store.layers(&base).unwrap());
    assert!(h.content.contains(&Digest::of(&base_tar)));
    assert!(!h.content.contains(&Digest::of(&diff)));
    assert_eq!(h.store.count(), 1);
}

#[test]
fn commit_of_an_overlay_diff_unpacks_into_a_real_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let content = Arc::new(ContentStore::open(&dir.path().join("content")).unwrap());
    let snap: Arc<dyn Snapshotter> = Arc::new(
        berth_storage::snapshot::copy::CopySnapshotter::new(&dir.path().join("copy")).unwrap(),
    );
    let store = ImageStore::open(&dir.path().join("images"), content, snap.clone()).unwrap();
    let base = store
        .import(
            layer(&[("etc/a", "1"), ("etc/b", "2")]).as_slice(),
            ImportOptions::default(),
        )
        .unwrap();

    // A container's upper dir: a new file, and (as root) the deletion of a base file.
    let upper = dir.path().join("upper");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::write(upper.join("etc/committed"), "hello").unwrap();
    let root = rustix::process::geteuid().is_root();
    if root {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("etc/a"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
    }
    let mut diff = Vec::new();
    berth_storage::diff::write_overlay_diff(&upper, &mut diff).unwrap();

    let mut reader = &diff[..];
    let id = store.commit(commit_opts(&base, &mut reader)).unwrap();
    let chain = store.layers(&id).unwrap();
    assert_eq!(chain.len(), 2);
    assert!(chain.iter().all(|c| snap.exists(c)));
    let RootfsMount::Directory(tree) = snap.prepare("ctr", chain.last()).unwrap() else {
        panic!("the copy snapshotter prepares directories");
    };
    assert_eq!(
        std::fs::read_to_string(tree.join("etc/committed")).unwrap(),
        "hello"
    );
    assert_eq!(std::fs::read_to_string(tree.join("etc/b")).unwrap(), "2");
    assert_eq!(tree.join("etc/a").exists(), !root);
    snap.remove_writable("ctr").unwrap();
}

#[test]
fn bad_commits_are_refused_and_leave_no_trace() {
    let (h, l1) = populated();
    let base = h.store.resolve("existing").unwrap();
    let before = h.observe();

    /// A reader that must not be read.
    struct Untouchable;
    impl Read for Untouchable {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("the layer was read before the request was validated");
        }
    }
    let err = h
        .store
        .commit(crate::CommitOptions {
            changes: vec!["RUN make".into()],
            ..commit_opts(&base, &mut Untouchable)
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = h
        .store
        .commit(commit_opts(&Digest::of(b"nope"), &mut Untouchable))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = h
        .store
        .commit(crate::CommitOptions {
            reference: Some(Reference::parse(&format!("x@{}", Digest::of(b"x"))).unwrap()),
            ..commit_opts(&base, &mut Untouchable)
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(h.observe(), before);

    let mut truncated = layer(&[("etc/b", "2".repeat(5000).as_str())]);
    truncated.truncate(1500);
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    for bad in [&b"not a tar"[..], &garbage, &truncated, &l1[..700]] {
        let mut reader = bad;
        let err = h
            .store
            .commit(crate::CommitOptions {
                reference: Some(Reference::parse("broken").unwrap()),
                ..commit_opts(&base, &mut reader)
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(
            err.to_string().starts_with("layer committed layer:"),
            "{err}"
        );
        assert_eq!(
            h.observe(),
            before,
            "store changed by a failed commit ({err})"
        );
    }
}
