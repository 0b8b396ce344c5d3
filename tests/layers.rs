//! The workspace's dependency graph must follow design.md's layers: a crate may depend only on
//! crates of its own layer or below, and a few same-layer edges are forbidden outright (the API
//! server must not use the client; the client, CLI and compose must not link the engine).
//! A crate missing from [`LAYERS`] fails the test, so new crates get a layer on purpose.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;

const LAYERS: &[(&str, u8)] = &[
    ("berth-common", 0),
    ("berth-profile", 0),
    ("berth-api-types", 0),
    ("berth-cgroups", 1),
    ("berth-runtime", 1),
    ("berth-net", 1),
    ("berth-nss", 1),
    ("berth-storage", 1),
    ("berth-shim-proto", 1),
    ("berth-image", 2),
    ("berth-registry", 2),
    ("berth-build", 2),
    ("berth-shim", 2),
    ("berth-engine", 3),
    ("berth-api", 4),
    ("berth-registry-server", 4),
    ("berth-client", 4),
    ("berth-compose", 4),
    ("berth-cli", 4),
    ("berth", 5),
];

const FORBIDDEN: &[(&str, &str)] = &[
    // The registry server is a store behind HTTP: it knows nothing of images or containers.
    ("berth-registry-server", "berth-engine"),
    ("berth-registry-server", "berth-image"),
    ("berth-api", "berth-client"),
    ("berth-api", "berth-cli"),
    ("berth-client", "berth-engine"),
    ("berth-cli", "berth-engine"),
    ("berth-cli", "berth-api"),
    ("berth-compose", "berth-engine"),
    // The engine talks to containers only through shims, never the runtime itself.
    ("berth-engine", "berth-runtime"),
    ("berth-engine", "berth-shim"),
    ("berth-engine", "berth-cgroups"),
];

fn layer(name: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("crate {name} has no layer: add it to LAYERS in tests/layers.rs"))
}

/// Workspace crate → its berth-* dependencies (all kinds), from `cargo metadata`.
fn workspace_graph() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut graph = BTreeMap::new();
    for pkg in meta["packages"].as_array().expect("packages") {
        let name = pkg["name"].as_str().expect("name").to_string();
        let deps = pkg["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter_map(|d| d["name"].as_str())
            .filter(|d| d.starts_with("berth"))
            .map(str::to_string)
            .collect();
        graph.insert(name, deps);
    }
    graph
}

/// Every edge of `graph` that breaks the layers or is forbidden outright, described.
fn violations(graph: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (krate, deps) in graph {
        for dep in deps {
            if layer(dep) > layer(krate) {
                out.push(format!(
                    "{krate} (layer {}) depends on {dep} (layer {})",
                    layer(krate),
                    layer(dep)
                ));
            }
            if FORBIDDEN.contains(&(krate.as_str(), dep.as_str())) {
                out.push(format!("{krate} must not depend on {dep}"));
            }
        }
    }
    out
}

#[test]
fn crates_depend_only_downward() {
    let graph = workspace_graph();
    assert!(
        graph.len() >= 5,
        "expected the workspace crates, got {graph:?}"
    );
    let found = violations(&graph);
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_catches_an_upward_edge_and_a_forbidden_one() {
    // Guards the guard: the real graph with two bad edges added must fail the same check.
    let mut graph = workspace_graph();
    graph
        .get_mut("berth-storage")
        .unwrap()
        .push("berth-engine".into());
    graph
        .get_mut("berth-cli")
        .unwrap()
        .push("berth-engine".into());
    let found = violations(&graph);
    assert!(
        found.contains(&"berth-storage (layer 1) depends on berth-engine (layer 3)".to_string()),
        "{found:?}"
    );
    assert!(
        found.contains(&"berth-cli must not depend on berth-engine".to_string()),
        "{found:?}"
    );
    assert_eq!(found.len(), 2, "only the added edges: {found:?}");
}
