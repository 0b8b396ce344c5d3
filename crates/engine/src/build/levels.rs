//! Stages that do not depend on each other run at once: the plan groups stages in levels
//! (each depending only on earlier ones), and the stages of one level run on threads of their
//! own, their output held back and shown stage by stage, in the Dockerfile's order, when the
//! level is done, so the log reads as if they had run one after the other.

use super::*;

impl Run<'_, '_> {
    /// Runs the stages of `level`; records each one's image in `results`.
    pub(super) fn level(
        &mut self,
        df: &berth_build::Dockerfile,
        level: &[usize],
        target: usize,
        first_step: &HashMap<usize, usize>,
        tags: &[Reference],
    ) -> Result<()> {
        if let [index] = level {
            self.step_no = first_step[index] - 1;
            let id = self.stage(&df.stages[*index], *index == target, tags)?;
            self.results.insert(*index, id);
            return Ok(());
        }
        type Outcome = (
            Result<Digest>,
            Vec<JsonMessage>,
            Vec<String>,
            std::collections::BTreeSet<String>,
        );
        // RUN steps wait on the runtime (logs, waits): each thread enters it.
        let runtime = tokio::runtime::Handle::current();
        let outcomes: Vec<(usize, Outcome)> = std::thread::scope(|s| {
            let handles: Vec<_> = level
                .iter()
                .map(|&index| {
                    let sub = self.fork(first_step[&index] - 1);
                    let stage = &df.stages[index];
                    let runtime = runtime.clone();
                    s.spawn(move || {
                        let _entered = runtime.enter();
                        let mut held = Vec::new();
                        let mut sink = |m: JsonMessage| held.push(m);
                        let (result, hits, used) = {
                            let mut run = sub.with_progress(&mut sink);
                            let result = run.stage(stage, index == target, tags);
                            (result, run.hits, run.used_args)
                        };
                        (index, (result, held, hits, used))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        (
                            usize::MAX,
                            (
                                Err(EngineError::Internal("a build stage panicked".into())),
                                Vec::new(),
                                Vec::new(),
                                Default::default(),
                            ),
                        )
                    })
                })
                .collect()
        });
        let mut failure = None;
        for (index, (result, held, hits, used)) in outcomes {
            for m in held {
                (self.progress)(m);
            }
            self.hits.extend(hits);
            self.used_args.extend(used);
            match result {
                Ok(id) => {
                    self.results.insert(index, id);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

/// The parts of a [`Run`] a stage on another thread takes along (all but the progress sink).
pub(super) struct Forked<'a> {
    engine: &'a Engine,
    opts: &'a BuildOptions,
    context: &'a ContextDir,
    ignore: Option<Ignore>,
    file: String,
    lines: Vec<String>,
    escape: char,
    inputs: BuildInputs,
    globals: Scope,
    results: HashMap<usize, Digest>,
    names: HashMap<String, usize>,
    step_no: usize,
    total: usize,
    build_id: String,
}

impl<'a> Run<'a, '_> {
    /// What a stage on another thread needs, starting at step `step_no`.
    fn fork(&self, step_no: usize) -> Forked<'a> {
        Forked {
            engine: self.engine,
            opts: self.opts,
            context: self.context,
            ignore: self.ignore.clone(),
            file: self.file.clone(),
            lines: self.lines.clone(),
            escape: self.escape,
            inputs: self.inputs.clone(),
            globals: self.globals.clone(),
            results: self.results.clone(),
            names: self.names.clone(),
            step_no,
            total: self.total,
            build_id: self.build_id.clone(),
        }
    }
}

impl<'a> Forked<'a> {
    /// A run of its own, reporting to `sink`.
    fn with_progress<'p>(&self, sink: ProgressSink<'p>) -> Run<'a, 'p> {
        Run {
            engine: self.engine,
            opts: self.opts,
            context: self.context,
            ignore: self.ignore.clone(),
            file: self.file.clone(),
            lines: self.lines.clone(),
            escape: self.escape,
            inputs: self.inputs.clone(),
            globals: self.globals.clone(),
            results: self.results.clone(),
            names: self.names.clone(),
            hits: Vec::new(),
            progress: sink,
            step_no: self.step_no,
            total: self.total,
            build_id: self.build_id.clone(),
            used_args: Default::default(),
            triggers: Vec::new(),
        }
    }
}
