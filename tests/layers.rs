//! The workspace's dependency graph must follow design.md's layers: a crate may depend only on
//! crates of its own layer or below, and a few same-layer edges are forbidden outright (the API
//! server must not use the client; the client, CLI and compose must not link the engine).
//! A crate missing from [`LAYERS`] fails the test, so new crates get a layer on purpose.

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
    ("berth-client", 4),
    ("berth-compose", 4),
    ("berth-cli", 4),
    ("berth", 5),
];

const FORBIDDEN: &[(&str, &str)] = &[
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

#[test]
fn crates_depend_only_downward() {
    let graph = workspace_graph();
    assert!(
        graph.len() >= 5,
        "expected the workspace crates, got {graph:?}"
    );
    let mut violations = Vec::new();
    for (krate, deps) in &graph {
        for dep in deps {
            if layer(dep) > layer(krate) {
                violations.push(format!(
                    "{krate} (layer {}) depends on {dep} (layer {})",
                    layer(krate),
                    layer(dep)
                ));
            }
            if FORBIDDEN.contains(&(krate.as_str(), dep.as_str())) {
                violations.push(format!("{krate} must not depend on {dep}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_catches_an_upward_edge() {
    // Guards the guard: an upward edge must be reported by the same rule the test applies.
    assert!(layer("berth-engine") > layer("berth-storage"));
    assert!(layer("berth-storage") < layer("berth-image"));
}
