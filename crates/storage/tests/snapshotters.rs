//! One scenario suite run against both snapshotters, so `overlay2` and `copy` stay
//! interchangeable: whiteouts and opaque dirs, metadata, hostile archives, digest checks,
//! idempotence and compressed layers. Needs root (mounts, chown, mknod), which CI has.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_common::Digest;
use berth_storage::StorageError;
use berth_storage::snapshot::copy::CopySnapshotter;
use berth_storage::snapshot::overlay::OverlaySnapshotter;
use berth_storage::snapshot::{RootfsMount, Snapshotter};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tar::EntryType;

/// A layer tar under construction; raw headers so hostile paths can be written verbatim.
struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Layer {
    fn new() -> Self {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn raw(
        &mut self,
        path: &str,
        kind: EntryType,
        link: Option<&str>,
        mode: u32,
        data: &[u8],
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.builder.append(&h, data).unwrap();
        self
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.raw(path, EntryType::Directory, None, 0o755, b"")
    }

    fn file(&mut self, path: &str, data: &str) -> &mut Self {
        self.raw(path, EntryType::Regular, None, 0o644, data.as_bytes())
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(path, EntryType::Symlink, Some(target), 0o777, b"")
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(path, EntryType::Link, Some(target), 0o644, b"")
    }

    /// A file with explicit owner, mode, mtime and a `user.` xattr in a PAX header.
    fn rich_file(&mut self, path: &str, data: &str) -> &mut Self {
        self.builder
            .append_pax_extensions([("SCHILY.xattr.user.berth", &b"yes"[..])])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o4755);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_234_567_890);
        h.set_cksum();
        self.builder.append(&h, data.as_bytes()).unwrap();
        self
    }

    fn device(&mut self, path: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o640);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.builder.append(&h, &b""[..]).unwrap();
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()));
        builder.into_inner().unwrap()
    }
}

fn diff(tar: &[u8]) -> Digest {
    Digest::of(tar)
}

/// Unmounts on drop, so a failed assertion never leaves a mount behind.
struct Mounted<'a> {
    sn: &'a dyn Snapshotter,
    target: PathBuf,
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = self.sn.unmount(&self.target);
    }
}

fn mount<'a>(sn: &'a dyn Snapshotter, m: &RootfsMount, target: &Path) -> Mounted<'a> {
    fs::create_dir_all(target).unwrap();
    sn.mount(m, target).unwrap();
    Mounted {
        sn,
        target: target.to_path_buf(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    out.sort();
    out
}

fn apply(sn: &dyn Snapshotter, parent: Option<&Digest>, tar: &[u8]) -> Digest {
    let applied = sn.apply_layer(parent, &diff(tar), &mut &tar[..]).unwrap();
    assert!(applied.created);
    applied.chain_id
}

fn assert_invalid(r: Result<berth_storage::snapshot::AppliedLayer, StorageError>, needle: &str) {
    match r {
        Err(StorageError::InvalidLayer(msg)) => assert!(msg.contains(needle), "{msg}"),
        other => panic!("expected InvalidLayer({needle}), got {other:?}"),
    }
}

fn tmp_is_empty(root: &Path) -> bool {
    fs::read_dir(root.join("tmp")).unwrap().next().is_none()
}

fn whiteouts_and_opaque_dirs(sn: &dyn Snapshotter, root: &Path, work: &Path) {
    let l1 = Layer::new()
        .dir("etc/")
        .file("etc/keep", "k")
        .file("etc/gone", "g")
        .dir("opq/")
        .file("opq/old", "o")
        .dir("opq/sub/")
        .file("opq/sub/old2", "o2")
        .dir("data/")
        .file("data/x", "x")
        .finish();
    // The opaque marker comes after this layer's own entries in the dir: they must survive.
    let l2 = Layer::new()
        .file("etc/.wh.gone", "")
        .dir("opq/")
        .file("opq/new", "n")
        .dir("opq/sub/")
        .file("opq/sub/new2", "n2")
        .file("opq/.wh..wh..opq", "")
        .file("data/.wh.missing", "")
        .finish();
    let c1 = apply(sn, None, &l1);
    let a2 = sn.apply_layer(Some(&c1), &diff(&l2), &mut &l2[..]).unwrap();
    assert_eq!(a2.chain_id, Digest::chain_ids(&[diff(&l1), diff(&l2)])[1]);
    assert_eq!(a2.size, 3);
    let m = sn.prepare("c1", Some(&a2.chain_id)).unwrap();
    let target = work.join("mnt");
    let _mounted = mount(sn, &m, &target);
    assert_eq!(names(&target.join("etc")), ["keep"]);
    assert_eq!(names(&target.join("opq")), ["new", "sub"]);
    assert_eq!(names(&target.join("opq/sub")), ["new2"]);
    assert_eq!(fs::read_to_string(target.join("data/x")).unwrap(), "x");
    // The writable layer takes writes without touching the snapshots.
    fs::write(target.join("etc/keep"), "changed").unwrap();
    assert_eq!(
        fs::read_to_string(target.join("etc/keep")).unwrap(),
        "changed"
    );
    drop(_mounted);
    let mut sorted = vec![c1.clone(), a2.chain_id.clone()];
    sorted.sort();
    assert_eq!(sn.list().unwrap(), sorted);
    assert!(sn.usage(&c1).unwrap() > 0);
    sn.remove_writable("c1").unwrap();
    sn.remove(&a2.chain_id).unwrap();
    sn.remove(&a2.chain_id).unwrap();
    assert_eq!(sn.list().unwrap(), [c1]);
    assert!(tmp_is_empty(root));
}

fn metadata_is_preserved(sn: &dyn Snapshotter, work: &Path) {
    let l1 = Layer::new()
        .dir("bin/")
        .rich_file("bin/suid", "#!")
        .hardlink("bin/suid-link", "bin/suid")
        .symlink("bin/abs", "/bin/suid")
        .symlink("bin/rel", "suid")
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/fifo", EntryType::Fifo, 0, 0)
        .finish();
    let c1 = apply(sn, None, &l1);
    // A child layer, so copy snapshots exercise the tree copy too.
    let l2 = Layer::new().file("other", "o").finish();
    let c2 = apply(sn, Some(&c1), &l2);
    let m = sn.prepare("meta", Some(&c2)).unwrap();
    let target = work.join("mnt-meta");
    let _mounted = mount(sn, &m, &target);
    let md = fs::symlink_metadata(target.join("bin/suid")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o4755);
    assert_eq!((md.uid(), md.gid()), (1000, 1001));
    assert_eq!(md.mtime(), 1_234_567_890);
    assert_eq!(md.nlink(), 2);
    let link = fs::symlink_metadata(target.join("bin/suid-link")).unwrap();
    assert_eq!(link.ino(), md.ino());
    let value = xattr(&target.join("bin/suid"), "user.berth");
    assert_eq!(value.as_deref(), Some(&b"yes"[..]));
    assert_eq!(
        fs::read_link(target.join("bin/abs")).unwrap(),
        Path::new("/bin/suid")
    );
    assert_eq!(
        fs::read_link(target.join("bin/rel")).unwrap(),
        Path::new("suid")
    );
    let null = fs::symlink_metadata(target.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.permissions().mode() & 0o777, 0o640);
    assert!(
        fs::symlink_metadata(target.join("dev/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let bin = fs::symlink_metadata(target.join("bin")).unwrap();
    assert_eq!(
        bin.mtime(),
        1_600_000_000,
        "directory mtime is set after its children"
    );
    drop(_mounted);
    sn.remove_writable("meta").unwrap();
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
    Some(buf[..n].to_vec())
}

fn hostile_archives_are_contained(sn: &dyn Snapshotter, root: &Path, work: &Path) {
    let outside = work.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("sentinel"), "original").unwrap();
    let escape_depth = "../".repeat(root.components().count() + 2);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            Layer::new().file("../../x", "boom").finish(),
            "escapes the layer root",
        ),
        (
            Layer::new().file("a/../../x", "boom").finish(),
            "escapes the layer root",
        ),
        (
            Layer::new()
                .file("ok", "o")
                .hardlink("stolen", "../../etc/shadow")
                .finish(),
            "escapes",
        ),
        (
            Layer::new()
                .hardlink("stolen", "/nonexistent/file")
                .finish(),
            "not in the layer",
        ),
    ];
    for (tar, needle) in cases {
        assert_invalid(sn.apply_layer(None, &diff(&tar), &mut &tar[..]), needle);
        assert!(sn.list().unwrap().is_empty());
        assert!(tmp_is_empty(root));
    }
    assert!(!root.parent().unwrap().join("x").exists());

    // Symlinks planted by the archive are never followed out of the snapshot: writes land
    // inside it (as if in a chroot), whatever form the link takes.
    let outside_str = outside.to_str().unwrap();
    let sentinel = format!("{outside_str}/sentinel");
    // Pointing at a directory that does not exist in the snapshot: refused, not created.
    let tar = Layer::new()
        .symlink("evil", outside_str)
        .file("evil/pwned", "boom")
        .finish();
    assert_invalid(
        sn.apply_layer(None, &diff(&tar), &mut &tar[..]),
        "dangling symlink",
    );
    assert_eq!(names(&outside), ["sentinel"]);
    assert!(tmp_is_empty(root));
    let tar = Layer::new()
        .dir(&format!("{}/", &outside_str[1..]))
        .symlink("evil", outside_str)
        .file("evil/pwned", "boom")
        .file("evil/sentinel", "overwritten")
        .symlink("rel", &format!("{escape_depth}{}", &outside_str[1..]))
        .file("rel/pwned2", "boom")
        .symlink("file-link", &sentinel)
        .file("file-link", "replaced the link, not its target")
        .hardlink("hl", "evil/sentinel")
        .dir("d/")
        .symlink("d/up", "../../../../..")
        .file("d/up/pwned3", "boom")
        .finish();
    let chain = apply(sn, None, &tar);
    assert_eq!(
        fs::read_to_string(outside.join("sentinel")).unwrap(),
        "original"
    );
    assert_eq!(names(&outside), ["sentinel"]);
    assert!(!Path::new("/pwned3").exists());
    // The hardlink got the in-snapshot copy, not the host file.
    let m = sn.prepare("hostile", Some(&chain)).unwrap();
    let target = work.join("mnt-hostile");
    let _mounted = mount(sn, &m, &target);
    assert_eq!(
        fs::read_to_string(target.join("hl")).unwrap(),
        "overwritten"
    );
    assert_eq!(
        fs::read_to_string(target.join("file-link")).unwrap(),
        "replaced the link, not its target"
    );
    assert_eq!(
        fs::read_to_string(target.join(&outside_str[1..]).join("pwned")).unwrap(),
        "boom"
    );
    assert!(target.join("pwned3").exists());
    drop(_mounted);
    sn.remove_writable("hostile").unwrap();
    sn.remove(&chain).unwrap();
}

/// A reader that fails the test if anyone reads it.
struct Untouchable;

impl Read for Untouchable {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        panic!("an existing snapshot must not read its layer again")
    }
}

fn digests_and_idempotence(sn: &dyn Snapshotter, root: &Path) {
    let tar = Layer::new().file("f", "content").finish();
    let wrong = Digest::of(b"something else");
    match sn.apply_layer(None, &wrong, &mut &tar[..]) {
        Err(StorageError::DiffIdMismatch { expected, actual }) => {
            assert_eq!((expected, actual), (wrong, diff(&tar)));
        }
        other => panic!("expected a diff ID mismatch, got {other:?}"),
    }
    assert!(sn.list().unwrap().is_empty());
    assert!(tmp_is_empty(root));
    let first = sn.apply_layer(None, &diff(&tar), &mut &tar[..]).unwrap();
    assert!(first.created && sn.exists(&first.chain_id));
    let again = sn.apply_layer(None, &diff(&tar), &mut Untouchable).unwrap();
    assert_eq!(
        (again.created, &again.chain_id, again.size),
        (false, &first.chain_id, first.size)
    );
    // Bytes after the end-of-archive marker are part of the diff ID.
    let mut padded = Layer::new().file("g", "x").finish();
    padded.extend_from_slice(&[0u8; 2048]);
    let applied = sn
        .apply_layer(None, &diff(&padded), &mut &padded[..])
        .unwrap();
    assert_eq!(applied.diff_id, Digest::of(&padded));
    // A parent that does not exist is reported, not guessed.
    let missing = Digest::of(b"no such parent");
    assert!(matches!(
        sn.apply_layer(Some(&missing), &diff(&tar), &mut &tar[..]),
        Err(StorageError::SnapshotNotFound(_))
    ));
    sn.remove(&first.chain_id).unwrap();
    sn.remove(&applied.chain_id).unwrap();
}

fn compressed_layers(sn: &dyn Snapshotter, work: &Path) {
    let tar = Layer::new()
        .dir("z/")
        .file("z/data", &"compressible ".repeat(1000))
        .finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for (blob, base) in [(gz, "gz"), (zst, "zst")] {
        let layer = sn.apply_layer(None, &diff(&tar), &mut &blob[..]).unwrap();
        assert_eq!(layer.size, 13_000);
        let m = sn.prepare(base, Some(&layer.chain_id)).unwrap();
        let target = work.join(format!("mnt-{base}"));
        let mounted = mount(sn, &m, &target);
        assert_eq!(fs::read(target.join("z/data")).unwrap().len(), 13_000);
        drop(mounted);
        sn.remove_writable(base).unwrap();
        sn.remove(&layer.chain_id).unwrap();
    }
}

fn empty_writable_layer(sn: &dyn Snapshotter, work: &Path) {
    let m = sn.prepare("scratch", None).unwrap();
    assert_eq!(
        sn.prepare("scratch", None).unwrap(),
        m,
        "prepare is idempotent"
    );
    assert!(sn.prepare("../evil", None).is_err());
    let target = work.join("mnt-scratch");
    let mounted = mount(sn, &m, &target);
    fs::write(target.join("new"), "n").unwrap();
    assert_eq!(names(&target), ["new"]);
    drop(mounted);
    sn.remove_writable("scratch").unwrap();
    sn.remove_writable("scratch").unwrap();
}

/// More layers than a classic `lowerdir=a:b:...` option string (one page) can name: the new
/// mount API's `lowerdir+` has no such limit.
fn deep_stack(sn: &dyn Snapshotter, work: &Path) {
    let mut parent: Option<Digest> = None;
    for i in 0..60 {
        let tar = Layer::new().file(&format!("layer-{i}"), "x").finish();
        parent = Some(apply(sn, parent.as_ref(), &tar));
    }
    if let RootfsMount::Overlay { lower, .. } = sn.prepare("deep", parent.as_ref()).unwrap() {
        let option_len: usize = lower.iter().map(|p| p.as_os_str().len() + 1).sum();
        assert!(lower.len() == 60 && option_len > 4096, "{option_len}");
    }
    let m = sn.prepare("deep", parent.as_ref()).unwrap();
    let target = work.join("mnt-deep");
    let mounted = mount(sn, &m, &target);
    assert_eq!(names(&target).len(), 60);
    drop(mounted);
    sn.remove_writable("deep").unwrap();
}

/// Runs every scenario against a fresh store made by `make`.
fn suite(make: fn(&Path) -> Box<dyn Snapshotter>) {
    if !rustix::process::geteuid().is_root() {
        berth_common::skip::skip("snapshotter tests need root");
        return;
    }
    type Scenario = fn(&dyn Snapshotter, &Path, &Path);
    let scenarios: [(&str, Scenario); 7] = [
        ("whiteouts", whiteouts_and_opaque_dirs),
        ("metadata", |sn, _, work| metadata_is_preserved(sn, work)),
        ("hostile", hostile_archives_are_contained),
        ("digests", |sn, root, _| digests_and_idempotence(sn, root)),
        ("compressed", |sn, _, work| compressed_layers(sn, work)),
        ("empty", |sn, _, work| empty_writable_layer(sn, work)),
        ("deep", |sn, _, work| deep_stack(sn, work)),
    ];
    for (name, scenario) in scenarios {
        let dir = tempfile::tempdir().unwrap();
        let (root, work) = (dir.path().join("root"), dir.path().join("work"));
        fs::create_dir_all(&work).unwrap();
        let sn = make(&root);
        eprintln!("{} / {name}", sn.name());
        scenario(sn.as_ref(), &root, &work);
    }
}

#[test]
fn overlay_snapshotter() {
    suite(|root| Box::new(OverlaySnapshotter::new(root).unwrap()));
}

#[test]
fn copy_snapshotter() {
    suite(|root| Box::new(CopySnapshotter::new(root).unwrap()));
}

#[test]
fn reopening_wipes_interrupted_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    drop(CopySnapshotter::new(&root).unwrap());
    fs::create_dir_all(root.join("tmp/half-built/fs")).unwrap();
    let sn = OverlaySnapshotter::new(&root).unwrap();
    assert!(tmp_is_empty(&root));
    assert_eq!(sn.name(), "overlay2");
}
