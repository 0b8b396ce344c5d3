//! `RUN --mount`: what a step sees besides its root file system, and never commits.
//!
//! `type=cache` is a directory under `ROOT/build/cache-mounts` kept across builds (keyed by
//! its `id`, by default its target; `sharing=shared` lets steps use it at once, `locked` makes
//! them take turns, `private` gives a step another instance while one is in use: each an
//! flock on the instance's lock file, held while the step runs), `type=tmpfs` a fresh tmpfs, `type=bind` a path of the
//! context or of a stage or image (`from=`), read-only unless `rw` (then a throw-away copy;
//! a read-only `from=` bind is the image's root itself, mounted through an idle helper
//! container for the step and resolved inside it, so nothing is copied),
//! `type=secret` a file the client sent beside the context (`berth build --secret`), kept out
//! of the context itself. Mount points the step's image lacked are removed from the step's
//! writable layer before it is committed, so no trace of a mount lands in the image; a secret's
//! content never enters the cache key either.

use super::*;
use berth_api_types::container::Mount;

/// One `--mount=...` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunMount {
    kind: MountKind,
    /// Where it appears in the step.
    target: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MountKind {
    Bind {
        from: Option<String>,
        source: String,
        rw: bool,
    },
    Cache {
        id: String,
        mode: u32,
        uid: u32,
        gid: u32,
        sharing: Sharing,
        read_only: bool,
    },
    Tmpfs {
        size: Option<String>,
    },
    Secret {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// How steps running at once share a cache mount (BuildKit's `sharing=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sharing {
    /// All at once (the default).
    Shared,
    /// One at a time; the others wait.
    Locked,
    /// One per instance; a step finding every instance in use gets a new one.
    Private,
}

fn parse_octal(v: &str) -> std::result::Result<u32, String> {
    u32::from_str_radix(v, 8).map_err(|_| format!("invalid mode {v:?}: not an octal number"))
}

fn parse_id(v: &str, what: &str) -> std::result::Result<u32, String> {
    v.parse()
        .map_err(|_| format!("invalid {what} {v:?}: not a number"))
}

/// Parses a `--mount` value (`type=cache,target=/root/.cache,id=pip`).
pub(super) fn parse_mount(spec: &str) -> std::result::Result<RunMount, String> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut flags = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => {
                fields.insert(k.to_ascii_lowercase(), v.to_string());
            }
            None => flags.push(part.to_ascii_lowercase()),
        }
    }
    let get = |names: &[&str]| names.iter().find_map(|n| fields.get(*n).cloned());
    let flag = |name: &str| {
        flags.iter().any(|f| f == name) || fields.get(name).is_some_and(|v| v == "true")
    };
    let kind = get(&["type"]).unwrap_or_else(|| "bind".into());
    let target = get(&["target", "dst", "destination"]);
    let target = match (&target, kind.as_str()) {
        (Some(t), _) => t.clone(),
        (None, "secret") => {
            let id = get(&["id"]).ok_or("a secret mount needs an id".to_string())?;
            format!("/run/secrets/{id}")
        }
        (None, _) => return Err(format!("mount {spec:?} has no target")),
    };
    if !target.starts_with('/') {
        return Err(format!("mount target {target:?} must be absolute"));
    }
    let num = |names: &[&str], default: u32, what: &str| {
        get(names).map_or(Ok(default), |v| parse_id(&v, what))
    };
    let kind = match kind.as_str() {
        "bind" => MountKind::Bind {
            from: get(&["from"]),
            source: get(&["source", "src"]).unwrap_or_else(|| "/".into()),
            rw: flag("rw") || flag("readwrite"),
        },
        "cache" => MountKind::Cache {
            id: get(&["id"]).unwrap_or_else(|| target.clone()),
            mode: get(&["mode"]).map_or(Ok(0o755), |m| parse_octal(&m))?,
            uid: num(&["uid"], 0, "uid")?,
            gid: num(&["gid"], 0, "gid")?,
            sharing: match get(&["sharing"]).as_deref() {
                None | Some("shared") => Sharing::Shared,
                Some("locked") => Sharing::Locked,
                Some("private") => Sharing::Private,
                Some(other) => {
                    return Err(format!(
                        "invalid sharing {other:?}: expected shared, private or locked"
                    ));
                }
            },
            read_only: flag("ro") || flag("readonly"),
        },
        "tmpfs" => MountKind::Tmpfs {
            size: get(&["size"]),
        },
        "secret" => MountKind::Secret {
            id: get(&["id"])
                .unwrap_or_else(|| target.rsplit('/').next().unwrap_or_default().to_string()),
            required: flag("required"),
            mode: get(&["mode"]).map_or(Ok(0o400), |m| parse_octal(&m))?,
            uid: num(&["uid"], 0, "uid")?,
            gid: num(&["gid"], 0, "gid")?,
        },
        other => {
            return Err(format!(
                "unsupported mount type {other:?} (bind, cache, tmpfs, secret)"
            ));
        }
    };
    Ok(RunMount { kind, target })
}

/// Mounts ready for a step container, and what of them the cache key covers.
#[derive(Default)]
pub(super) struct PreparedMounts<'e> {
    /// Bind mounts (binds, caches, secrets).
    pub mounts: Vec<Mount>,
    /// tmpfs mounts, target → options.
    pub tmpfs: BTreeMap<String, String>,
    /// Their part of the step's cache key.
    pub key: Vec<serde_json::Value>,
    /// Mount targets, to be removed from the step's layer if the image lacked them.
    pub targets: Vec<String>,
    /// The cache mounts' locks, held while the step runs.
    pub locks: Vec<std::fs::File>,
    /// Images' roots mounted for read-only `from=` binds, until the step is done.
    pub views: Vec<ImageView<'e>>,
}

/// An image's root file system mounted (through an idle helper container) for as long as a
/// step binds a path of it. Unmounted first, then the helper removed.
pub(super) struct ImageView<'e> {
    _held: crate::containers::archive::HeldRootfs<'e>,
    _helper: StepContainer<'e>,
}

/// The instance of cache mount `hex` (under `dir`) a step may use under `sharing`, and the
/// lock that says so.
fn cache_instance(
    dir: &std::path::Path,
    hex: &str,
    sharing: Sharing,
) -> Result<(std::path::PathBuf, std::fs::File)> {
    use rustix::fs::{FlockOperation, flock};
    let locks = dir.with_file_name("cache-mount-locks");
    std::fs::create_dir_all(&locks).map_err(|e| EngineError::io(&locks, e))?;
    let open = |name: &str| {
        let path = locks.join(format!("{name}.lock"));
        std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| EngineError::io(&path, e))
    };
    let locked = |f: &std::fs::File, op| {
        flock(f, op).map_err(|e| EngineError::io(&locks, std::io::Error::from(e)))
    };
    match sharing {
        Sharing::Shared | Sharing::Locked => {
            let f = open(hex)?;
            let op = if sharing == Sharing::Shared {
                FlockOperation::LockShared
            } else {
                FlockOperation::LockExclusive
            };
            locked(&f, op)?;
            Ok((dir.join(hex), f))
        }
        Sharing::Private => {
            let mut n = 0;
            loop {
                let name = if n == 0 {
                    hex.to_string()
                } else {
                    format!("{hex}-{n}")
                };
                let f = open(&name)?;
                if flock(&f, FlockOperation::NonBlockingLockExclusive).is_ok() {
                    return Ok((dir.join(name), f));
                }
                n += 1;
            }
        }
    }
}

fn bind(source: &std::path::Path, target: &str, read_only: bool) -> Mount {
    Mount {
        kind: "bind".into(),
        source: source.to_string_lossy().into_owned(),
        target: target.to_string(),
        read_only,
        ..Mount::default()
    }
}

impl<'a> Run<'a, '_> {
    /// Resolves `mounts` into host paths (making cache directories, copying `rw` sources).
    pub(super) fn prepare_mounts(
        &mut self,
        mounts: &[RunMount],
        step: &Step,
    ) -> Result<PreparedMounts<'a>> {
        let mut out = PreparedMounts::default();
        let file = self.file.clone();
        let err = |m: String| step_error(&file, step, m);
        for m in mounts {
            out.targets.push(m.target.clone());
            match &m.kind {
                MountKind::Tmpfs { size } => {
                    let opts = size
                        .as_ref()
                        .map(|s| format!("size={s}"))
                        .unwrap_or_default();
                    out.tmpfs.insert(m.target.clone(), opts);
                    out.key
                        .push(serde_json::json!({"tmpfs": m.target, "size": size}));
                }
                MountKind::Cache {
                    id,
                    mode,
                    uid,
                    gid,
                    sharing,
                    read_only,
                } => {
                    let (dir, lock) = cache_instance(
                        &self.engine.build_cache_mounts_dir(),
                        Digest::of(id.as_bytes()).hex(),
                        *sharing,
                    )?;
                    out.locks.push(lock);
                    if !dir.exists() {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
                        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(*mode))
                            .map_err(|e| EngineError::io(&dir, e))?;
                        std::os::unix::fs::chown(&dir, Some(*uid), Some(*gid))
                            .map_err(|e| EngineError::io(&dir, e))?;
                    }
                    out.mounts.push(bind(&dir, &m.target, *read_only));
                    let mut key = serde_json::json!({"cache": id, "target": m.target});
                    if *read_only {
                        key["ro"] = serde_json::json!(true);
                    }
                    out.key.push(key);
                }
                MountKind::Secret {
                    id,
                    required,
                    mode,
                    uid,
                    gid,
                } => {
                    let Some(file) = self.context.secret(id) else {
                        if *required {
                            return Err(err(format!(
                                "secret {id} is required but was not given (berth build --secret id={id},src=FILE)"
                            )));
                        }
                        out.targets.pop();
                        continue;
                    };
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode))
                        .map_err(|e| EngineError::io(&file, e))?;
                    std::os::unix::fs::chown(&file, Some(*uid), Some(*gid))
                        .map_err(|e| EngineError::io(&file, e))?;
                    out.mounts.push(bind(&file, &m.target, true));
                    // Only the id: the secret's value must not be recoverable from the cache.
                    out.key
                        .push(serde_json::json!({"secret": id, "target": m.target}));
                }
                MountKind::Bind { from, source, rw } => {
                    let (path, key) = match from {
                        None => {
                            let plan = CopyJob {
                                ignore: self.ignore.as_ref(),
                                excludes: None,
                                sources: vec![CopySource::Path(source.clone())],
                                dest: "/".into(),
                                dest_dir: true,
                                owner: (0, 0),
                                mode: None,
                                unpack_archives: false,
                            }
                            .plan(self.context.tree())
                            .map_err(err)?;
                            let sum = plan.checksum.to_string();
                            let path = self.materialize(&plan, source)?;
                            (path, serde_json::json!({"bind": source, "content": sum}))
                        }
                        Some(name) => {
                            let image = self.image_named_by_from(name, step)?;
                            let path = if *rw {
                                self.copy_out_of_image(&image, source, step)?
                            } else {
                                let (path, view) = self.view_in_image(&image, source, step)?;
                                out.views.push(view);
                                path
                            };
                            (
                                path,
                                serde_json::json!({"bind": source, "from": image.to_string()}),
                            )
                        }
                    };
                    out.mounts.push(bind(&path, &m.target, !rw));
                    let mut key = key;
                    key["target"] = serde_json::json!(m.target);
                    key["rw"] = serde_json::json!(rw);
                    out.key.push(key);
                }
            }
        }
        Ok(out)
    }

    /// A private copy of the context's `source` (what `plan` copies), for a bind mount: the
    /// context is never unpacked, and a copy is what lets `rw` writes go nowhere.
    fn materialize(&self, plan: &sources::CopyPlan, source: &str) -> Result<std::path::PathBuf> {
        let dir = self.context.scratch_dir()?;
        let mut tar = tempfile::tempfile_in(&dir).map_err(|e| EngineError::io(&dir, e))?;
        plan.write_tar(self.context.tree(), &[], &mut tar)
            .map_err(|e| EngineError::io(&dir, e))?;
        std::io::Seek::rewind(&mut tar).map_err(|e| EngineError::io(&dir, e))?;
        berth_storage::unpack::apply_tar(
            &mut tar,
            &dir,
            berth_storage::unpack::WhiteoutMode::Delete,
        )?;
        let tree = self.context.tree();
        let resolved = tree.resolve(source.trim_start_matches('/'), true);
        let is_dir = resolved
            .as_deref()
            .and_then(|r| tree.stat(r))
            .is_some_and(|m| m.kind == NodeKind::Dir);
        Ok(if is_dir {
            dir
        } else {
            let base = std::path::Path::new(source.trim_end_matches('/'))
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            dir.join(base)
        })
    }

    /// Where `source` of `image`'s root file system is, with the root kept mounted (for a
    /// read-only `from=` bind: nothing is copied). The path is resolved inside the root, so
    /// a symlink in the image cannot point the bind at the host.
    fn view_in_image(
        &self,
        image: &Digest,
        source: &str,
        step: &Step,
    ) -> Result<(std::path::PathBuf, ImageView<'a>)> {
        let engine: &'a Engine = self.engine;
        let helper = StepContainer::idle(engine, Some(image), &self.build_id)?;
        let held = engine.containers.hold_rootfs(&helper.id)?;
        let tree = berth_storage::confined::Tree::open(held.path())?;
        let resolved = tree
            .resolve(&format!("/{}", source.trim_start_matches('/')), true)
            .map_err(|_| {
                step_error(
                    &self.file,
                    step,
                    format!("bind source {source:?} not found in {image}"),
                )
            })?;
        let path = held.path().join(resolved.path.trim_start_matches('/'));
        Ok((
            path,
            ImageView {
                _held: held,
                _helper: helper,
            },
        ))
    }

    /// A private copy of `source` from `image`'s root file system (for a `from=` bind).
    fn copy_out_of_image(
        &self,
        image: &Digest,
        source: &str,
        step: &Step,
    ) -> Result<std::path::PathBuf> {
        let helper = StepContainer::idle(self.engine, Some(image), &self.build_id)?;
        let file = self.file.clone();
        self.engine.containers.with_rootfs(&helper.id, |root| {
            let tree = berth_storage::confined::Tree::open(root)?;
            let resolved = tree
                .resolve(&format!("/{}", source.trim_start_matches('/')), true)
                .map_err(|_| {
                    step_error(
                        &file,
                        step,
                        format!("bind source {source:?} not found in {image}"),
                    )
                })?;
            self.context
                .scratch_copy(&root.join(resolved.path.trim_start_matches('/')))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_specs_parse_like_buildkit() {
        let m = parse_mount("type=cache,target=/root/.cache,id=pip,mode=0700,uid=1").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Cache {
                id: "pip".into(),
                mode: 0o700,
                uid: 1,
                gid: 0,
                sharing: Sharing::Shared,
                read_only: false,
            }
        );
        let m = parse_mount("type=cache,target=/c,sharing=locked,ro").unwrap();
        assert!(matches!(
            m.kind,
            MountKind::Cache {
                sharing: Sharing::Locked,
                read_only: true,
                ..
            }
        ));
        assert!(
            parse_mount("type=cache,target=/c,sharing=sometimes")
                .unwrap_err()
                .contains("invalid sharing")
        );
        let m = parse_mount("type=secret,id=token").unwrap();
        assert_eq!(m.target, "/run/secrets/token");
        let m = parse_mount("target=/src,source=app,rw").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Bind {
                from: None,
                source: "app".into(),
                rw: true
            }
        );
        let m = parse_mount("type=bind,from=builder,src=/out,dst=/in").unwrap();
        assert_eq!(m.target, "/in");
        assert!(
            parse_mount("type=ssh,target=/x")
                .unwrap_err()
                .contains("unsupported mount type")
        );
        assert!(parse_mount("type=cache").unwrap_err().contains("no target"));
        assert!(
            parse_mount("type=tmpfs,target=rel")
                .unwrap_err()
                .contains("absolute")
        );
        assert!(
            parse_mount("type=cache,target=/c,mode=9z")
                .unwrap_err()
                .contains("octal")
        );
    }

    #[test]
    fn cache_instances_follow_the_sharing_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache-mounts");
        // Shared users hold it together; a private user then gets another instance.
        let (a, _la) = cache_instance(&dir, "x", Sharing::Shared).unwrap();
        let (b, _lb) = cache_instance(&dir, "x", Sharing::Shared).unwrap();
        assert_eq!(a, b);
        let (p, lp) = cache_instance(&dir, "x", Sharing::Private).unwrap();
        assert_eq!(p, dir.join("x-1"));
        let (q, _lq) = cache_instance(&dir, "x", Sharing::Private).unwrap();
        assert_eq!(q, dir.join("x-2"));
        drop(lp);
        let (r, _lr) = cache_instance(&dir, "x", Sharing::Private).unwrap();
        assert_eq!(r, dir.join("x-1"), "a released instance is reused");
        // A locked user waits for the shared ones.
        let (tx, rx) = std::sync::mpsc::channel();
        let d2 = dir.clone();
        let waiter = std::thread::spawn(move || {
            let got = cache_instance(&d2, "x", Sharing::Locked).map(|(p, _)| p);
            tx.send(got.is_ok()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            rx.try_recv().is_err(),
            "locked must wait while shared users hold it"
        );
        drop((_la, _lb));
        assert!(rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap());
        waiter.join().unwrap();
    }
}
