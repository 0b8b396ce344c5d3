//! `COPY` and `ADD`: sources from the context, a stage or an image, keyed by their content,
//! extracted into a step container's root through [`Tree`](berth_storage::confined::Tree).

use super::*;

impl Run<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn copy_step(
        &mut self,
        state: &mut StageState,
        step: &Step,
        scope: &Scope,
        config: &ImageConfig,
        spec: &CopySpec,
        add: bool,
        text: &str,
    ) -> Result<()> {
        let vars = scope.vars();
        let expand = |w: &str| {
            words::process_word(w, &vars, self.escape)
                .map_err(|e| step_error(&self.file, step, e.0))
        };
        let mut from = None;
        let mut chown = None;
        let mut chmod = None;
        let mut excludes = Vec::new();
        let mut checksum = None;
        for f in &spec.flags {
            let value = f.value.clone().unwrap_or_default();
            match f.name.as_str() {
                "from" if !add => from = Some(expand(&value)?),
                "chown" => chown = Some(expand(&value)?),
                "chmod" => {
                    let v = expand(&value)?;
                    chmod = Some(u32::from_str_radix(&v, 8).map_err(|_| {
                        step_error(
                            &self.file,
                            step,
                            format!("invalid --chmod={v}: not an octal mode"),
                        )
                    })?);
                }
                "exclude" => excludes.push(expand(&value)?),
                "checksum" if add => checksum = Some(expand(&value)?),
                // `--link` only changes how BuildKit stacks the layer; the result is the same.
                "link" => {}
                other => {
                    return Err(step_error(
                        &self.file,
                        step,
                        format!("unknown flag: --{other}"),
                    ));
                }
            }
        }
        let mut sources = Vec::new();
        for s in &spec.sources {
            match s {
                Source::Path(p) => {
                    let p = expand(p)?;
                    if add && (p.starts_with("http://") || p.starts_with("https://")) {
                        sources.push(self.fetch(&p, checksum.as_deref(), step)?);
                        continue;
                    }
                    if checksum.is_some() {
                        return Err(step_error(
                            &self.file,
                            step,
                            "--checksum can only be used with an http(s) source",
                        ));
                    }
                    sources.push(CopySource::Path(p));
                }
                Source::Heredoc(h) => {
                    let body = if h.expand {
                        words::process_word(&h.body, &vars, self.escape)
                            .map_err(|e| step_error(&self.file, step, e.0))?
                    } else {
                        h.body.clone()
                    };
                    sources.push(CopySource::Inline {
                        name: String::new(),
                        body: body.into_bytes(),
                    });
                }
            }
        }
        let dest_raw = expand(&spec.dest)?;
        let dest = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            let wd = if config.working_dir.is_empty() {
                "/"
            } else {
                &config.working_dir
            };
            format!("{}/{dest_raw}", wd.trim_end_matches('/'))
        };
        let dest_dir = dest_raw.ends_with('/') || dest_raw == "." || sources.len() > 1;
        let owner = match &chown {
            None => (0, 0),
            Some(spec) => self.owner_of(state, spec, step)?,
        };
        let exclude_set = (!excludes.is_empty()).then(|| Ignore::parse(&excludes.join("\n")));
        // The source root: the context, or the stage or image `--from` names.
        let from_image = match &from {
            None => None,
            Some(name) => Some(self.image_named_by_from(name, step)?),
        };
        let planned_key = |plan_sum: &str| {
            chain_key(
                &state.key,
                &serde_json::json!({
                    "copy": add, "dest": dest, "dir": dest_dir, "owner": owner, "mode": chmod,
                    "content": plan_sum, "config": config,
                }),
            )
        };
        let ignore = if from.is_none() {
            self.ignore.clone()
        } else {
            None
        };
        let job = CopyJob {
            ignore: ignore.as_ref(),
            excludes: exclude_set.clone(),
            sources: sources.clone(),
            dest: dest.clone(),
            dest_dir,
            owner,
            mode: chmod,
            unpack_archives: add,
        };
        let key = match &from_image {
            None => {
                let plan = job
                    .plan(self.context.tree())
                    .map_err(|m| step_error(&self.file, step, m))?;
                planned_key(&plan.checksum.to_string())
            }
            Some(id) => {
                let sources_text: Vec<String> =
                    spec.sources.iter().map(|s| format!("{s:?}")).collect();
                planned_key(&format!("{id} {}", sources_text.join(" ")))
            }
        };
        if self.cache_hit(state, &key)? {
            return Ok(());
        }
        let container = StepContainer::idle(self.engine, state.image.as_ref(), &self.build_id)?;
        let source_container = match &from_image {
            Some(id) => Some(StepContainer::idle(self.engine, Some(id), &self.build_id)?),
            None => None,
        };
        let file = self.file.clone();
        let write = |sources_tree: &dyn SourceTree| -> Result<()> {
            self.engine.containers.with_rootfs(&container.id, |root| {
                let tree = berth_storage::confined::Tree::open(root)?;
                let exists_dir = tree
                    .resolve(&dest, true)
                    .is_ok_and(|r| r.stat.st_mode & 0o170000 == 0o040000);
                let mut this_job = job.clone();
                this_job.dest_dir |= exists_dir;
                let plan = this_job
                    .plan(sources_tree)
                    .map_err(|m| step_error(&file, step, m))?;
                let target_is_dir =
                    dest_dir || exists_dir || plan_has_dir_source(&sources, sources_tree);
                let missing = missing_dirs(&tree, &dest, target_is_dir);
                let top = tree
                    .resolve("/", true)
                    .map_err(|e| EngineError::Internal(e.to_string()))?;
                let (mut reader, mut writer) =
                    std::io::pipe().map_err(|e| EngineError::io(root, e))?;
                std::thread::scope(|s| {
                    let producer =
                        s.spawn(move || plan.write_tar(sources_tree, &missing, &mut writer));
                    let applied = berth_storage::unpack::apply_tar_at(
                        &mut reader,
                        top.fd,
                        root,
                        berth_storage::unpack::WhiteoutMode::Overlay,
                    );
                    drop(reader);
                    let produced = producer.join();
                    applied?;
                    match produced {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(step_error(&file, step, e)),
                        Err(_) => Err(EngineError::Internal("the copy writer panicked".into())),
                    }
                })
            })
        };
        match &source_container {
            None => write(self.context.tree())?,
            Some(src) => self.engine.containers.with_rootfs(&src.id, |root| {
                let tree = DirTree::open(root).map_err(|e| EngineError::io(root, e))?;
                write(&tree)
            })?,
        }
        drop(source_container);
        self.commit(state, &container, &key, config, text.to_string())?;
        Ok(())
    }

    /// The image `COPY --from` names: an earlier stage (by name or index), a local image, or
    /// one pulled from its registry.
    pub(super) fn image_named_by_from(&mut self, name: &str, step: &Step) -> Result<Digest> {
        let stage = self
            .names
            .get(&name.to_ascii_lowercase())
            .copied()
            .or_else(|| name.parse::<usize>().ok());
        if let Some(i) = stage {
            return self.results.get(&i).cloned().ok_or_else(|| {
                step_error(
                    &self.file,
                    step,
                    format!("stage {name} was not built before this step"),
                )
            });
        }
        if let Ok(id) = self.engine.images.resolve(name) {
            return Ok(id);
        }
        self.pull_for_build(name).map_err(|e| {
            step_error(
                &self.file,
                step,
                format!("--from={name}: no such stage or local image, and pulling it failed: {e}"),
            )
        })
    }

    /// `--chown=user[:group]` resolved with the stage's `/etc/passwd` and `/etc/group`.
    pub(super) fn owner_of(
        &self,
        state: &StageState,
        spec: &str,
        step: &Step,
    ) -> Result<(u32, u32)> {
        let numeric = |s: &str| s.parse::<u32>().ok();
        let (u, g) = spec.split_once(':').unwrap_or((spec, ""));
        if let (Some(uid), Some(gid)) = (
            numeric(u),
            if g.is_empty() { numeric(u) } else { numeric(g) },
        ) {
            return Ok((uid, gid));
        }
        let container = StepContainer::idle(self.engine, state.image.as_ref(), &self.build_id)?;
        let (passwd, group) = self.engine.containers.with_rootfs(&container.id, |root| {
            let tree = berth_storage::confined::Tree::open(root)?;
            let read = |p: &str| {
                tree.resolve(p, true).ok().and_then(|r| {
                    std::fs::read_to_string(root.join(r.path.trim_start_matches('/'))).ok()
                })
            };
            Ok((read("/etc/passwd"), read("/etc/group")))
        })?;
        let user = crate::spec::user::resolve_user(spec, &[], passwd.as_deref(), group.as_deref())
            .map_err(|e| step_error(&self.file, step, format!("--chown={spec}: {e}")))?;
        Ok((user.uid, user.gid))
    }
}

/// Whether some source is a directory (then the destination is one too).
fn plan_has_dir_source(sources: &[CopySource], tree: &dyn SourceTree) -> bool {
    sources.iter().any(|s| match s {
        CopySource::Path(p) => {
            !p.contains(['*', '?', '['])
                && tree
                    .resolve(p.trim_start_matches('/'), true)
                    .and_then(|r| tree.stat(&r))
                    .is_some_and(|m| m.kind == NodeKind::Dir)
        }
        CopySource::Inline { .. } | CopySource::Fetched { .. } => false,
    })
}

/// The destination's ancestors (and itself, when it is a directory) that the image lacks.
pub(super) fn missing_dirs(
    tree: &berth_storage::confined::Tree,
    dest: &str,
    dest_is_dir: bool,
) -> Vec<String> {
    let parts: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
    let upto = if dest_is_dir {
        parts.len()
    } else {
        parts.len().saturating_sub(1)
    };
    let mut out = Vec::new();
    for i in 1..=upto {
        let path = parts[..i].join("/");
        if tree.resolve(&format!("/{path}"), true).is_err() {
            out.push(path);
        }
    }
    out
}

impl Run<'_, '_> {
    /// Downloads `url` for `ADD` into the build's scratch space (every time, as the classic
    /// builder does: the content's digest, not the URL, decides the cache), checked against
    /// `--checksum` when given.
    fn fetch(&self, url: &str, checksum: Option<&str>, step: &Step) -> Result<CopySource> {
        let err = |m: String| step_error(&self.file, step, m);
        let wanted = checksum
            .map(|c| {
                c.parse::<Digest>()
                    .map_err(|_| err(format!("invalid --checksum {c:?}: expected sha256:<hex>")))
            })
            .transpose()?;
        let dir = self.context.scratch_dir()?;
        let path = dir.join("download");
        let mut file = std::fs::File::create(&path).map_err(|e| EngineError::io(&path, e))?;
        let got = self
            .engine
            .http_client()
            .download_blocking(url, &mut file, self.engine.build.context_limit)
            .map_err(|e| err(e.to_string()))?;
        if let Some(w) = &wanted
            && *w != got.digest
        {
            return Err(err(format!(
                "{url}: digest mismatch: expected {w}, downloaded {}",
                got.digest
            )));
        }
        let from_path = url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.split_once("://"))
            .and_then(|(_, rest)| rest.split_once('/'))
            .and_then(|(_, path)| path.rsplit('/').next())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .map(str::to_string);
        let name = from_path
            .or(got.suggested_name)
            .ok_or_else(|| err(format!("{url}: cannot determine a file name from the URL")))?;
        let mtime = got
            .last_modified
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        Ok(CopySource::Fetched {
            name,
            path,
            size: got.size,
            digest: got.digest,
            mtime,
        })
    }
}
