//! Which stages a build runs, in what order, and which may run at once.
//!
//! A stage depends on the earlier stage its `FROM` names and on every stage a `COPY --from`
//! (or `RUN --mount=from=`) names, by name or by index. Only the target (`--target`, else the
//! last stage) and what it depends on are built, as BuildKit does; the rest are skipped. A
//! stage that comes to depend on itself is refused with the chain that closes the loop.
//! Stages are grouped in levels: those of one level depend only on earlier levels, so they can
//! be built in parallel.

use crate::dockerfile::{Dockerfile, Instruction, Stage};
use crate::error::{BuildError, Result};

/// The stages to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The target stage's index.
    pub target: usize,
    /// Indexes of the stages to build, each after those it depends on.
    pub order: Vec<usize>,
    /// The same stages in levels: a stage's dependencies are all in earlier levels.
    pub levels: Vec<Vec<usize>>,
}

/// The stage `reference` names from stage `from`: an `AS` name (any stage), or an index.
/// `FROM` may only name an earlier stage (a later name is an image, as in Docker).
fn named(df: &Dockerfile, reference: &str, before: Option<usize>) -> Option<usize> {
    let wanted = reference.to_lowercase();
    let by_name = df
        .stages
        .iter()
        .filter(|s| before.is_none_or(|b| s.index < b))
        .find(|s| s.name.as_deref() == Some(wanted.as_str()))
        .map(|s| s.index);
    by_name.or_else(|| {
        reference
            .parse::<usize>()
            .ok()
            .filter(|i| *i < df.stages.len() && before.is_none_or(|b| *i < b))
    })
}

/// The stages `stage` depends on.
pub fn dependencies(df: &Dockerfile, stage: &Stage) -> Vec<usize> {
    let mut deps = Vec::new();
    if let Some(base) = df
        .stages
        .iter()
        .filter(|s| s.index < stage.index)
        .find(|s| s.name.as_deref() == Some(stage.base.to_lowercase().as_str()))
    {
        deps.push(base.index);
    }
    for step in &stage.steps {
        let from = match &step.instruction {
            Instruction::Copy(c) | Instruction::Add(c) => c.flag("from").map(str::to_string),
            Instruction::Run { flags, .. } => flags
                .iter()
                .filter(|f| f.name == "mount")
                .filter_map(|f| f.value.as_deref())
                .flat_map(|v| v.split(','))
                .find_map(|kv| kv.strip_prefix("from=").map(str::to_string)),
            _ => None,
        };
        if let Some(i) = from.and_then(|r| named(df, &r, None))
            && !deps.contains(&i)
        {
            deps.push(i);
        }
    }
    deps
}

/// The plan for building `target` (a stage name; `None`: the last stage).
pub fn plan(df: &Dockerfile, target: Option<&str>) -> Result<Plan> {
    let target = match target.filter(|t| !t.is_empty()) {
        Some(t) => {
            let t_lower = t.to_lowercase();
            df.stages
                .iter()
                .find(|s| s.name.as_deref() == Some(t_lower.as_str()))
                .map(|s| s.index)
                .ok_or_else(|| BuildError::UnknownTarget(t.to_string()))?
        }
        None => df.stages.len().saturating_sub(1),
    };
    let deps: Vec<Vec<usize>> = df.stages.iter().map(|s| dependencies(df, s)).collect();
    let mut order = Vec::new();
    let mut state = vec![Visit::New; df.stages.len()];
    let mut path = Vec::new();
    visit(df, &deps, target, &mut state, &mut path, &mut order)?;
    let mut level = vec![0usize; df.stages.len()];
    for &i in &order {
        level[i] = deps[i].iter().map(|d| level[*d] + 1).max().unwrap_or(0);
    }
    let depth = order.iter().map(|i| level[*i]).max().map_or(0, |m| m + 1);
    let mut levels = vec![Vec::new(); depth];
    for &i in &order {
        levels[level[i]].push(i);
    }
    for l in &mut levels {
        l.sort_unstable();
    }
    Ok(Plan {
        target,
        order,
        levels,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    InProgress,
    Done,
}

fn label(df: &Dockerfile, i: usize) -> String {
    df.stages[i].name.clone().unwrap_or_else(|| i.to_string())
}

fn visit(
    df: &Dockerfile,
    deps: &[Vec<usize>],
    i: usize,
    state: &mut [Visit],
    path: &mut Vec<usize>,
    order: &mut Vec<usize>,
) -> Result<()> {
    match state[i] {
        Visit::Done => return Ok(()),
        Visit::InProgress => {
            let from = path.iter().position(|p| *p == i).unwrap_or(0);
            let mut chain: Vec<String> = path[from..].iter().map(|p| label(df, *p)).collect();
            chain.push(label(df, i));
            return Err(BuildError::StageCycle {
                file: df.file.clone(),
                line: df.stages[i].line,
                stage: label(df, i),
                cycle: chain.join(" -> "),
            });
        }
        Visit::New => {}
    }
    state[i] = Visit::InProgress;
    path.push(i);
    let mut sorted = deps[i].clone();
    sorted.sort_unstable();
    for d in sorted {
        visit(df, deps, d, state, path, order)?;
    }
    path.pop();
    state[i] = Visit::Done;
    order.push(i);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    fn df(text: &str) -> Dockerfile {
        parse("Dockerfile", text).unwrap()
    }

    #[test]
    fn only_what_the_target_needs_is_built_and_independent_stages_share_a_level() {
        let d = df("FROM busybox AS a\nRUN true\n\
                    FROM busybox AS unused\nRUN false\n\
                    FROM busybox AS b\nRUN true\n\
                    FROM a AS c\nCOPY --from=b /x /x\n\
                    FROM scratch\nCOPY --from=c /x /x\nCOPY --from=0 /y /y\n");
        let p = plan(&d, None).unwrap();
        assert_eq!(p.target, 4);
        assert_eq!(p.order, [0, 2, 3, 4]);
        assert_eq!(p.levels, [vec![0, 2], vec![3], vec![4]]);
        let p = plan(&d, Some("B")).unwrap();
        assert_eq!((p.target, p.order.clone()), (2, vec![2]));
    }

    #[test]
    fn an_unknown_target_and_a_cycle_are_refused() {
        let d = df("FROM busybox AS a\n");
        assert_eq!(
            plan(&d, Some("nope")).unwrap_err().to_string(),
            "target stage \"nope\" could not be found"
        );
        let d = df("FROM busybox AS a\nCOPY --from=b /x /x\nFROM a AS b\n");
        let err = plan(&d, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile:3: stage \"b\" depends on itself: b -> a -> b"
        );
    }

    #[test]
    fn from_names_only_earlier_stages_and_images_otherwise() {
        // `FROM later` is an image: the stage named later comes after it.
        let d = df("FROM later AS first\nFROM busybox AS later\nCOPY --from=first / /\n");
        assert_eq!(dependencies(&d, &d.stages[0]), Vec::<usize>::new());
        assert_eq!(plan(&d, None).unwrap().order, [0, 1]);
        // A --from that names no stage is an image.
        let d = df("FROM busybox\nCOPY --from=alpine:3 / /\n");
        assert_eq!(plan(&d, None).unwrap().order, [0]);
        // RUN --mount=from= is a dependency too.
        let d = df(
            "FROM busybox AS tools\nFROM busybox\nRUN --mount=type=bind,from=tools,target=/t true\n",
        );
        assert_eq!(plan(&d, None).unwrap().order, [0, 1]);
    }
}
