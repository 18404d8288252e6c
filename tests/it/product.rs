//! What ships: the root package is the Lambda and nothing else. The local tooling's crates and
//! their frameworks must never come back into the product's normal dependency graph, where
//! they would be compiled into every `sam build`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Crates that belong to local tooling only.
const TOOLING: &[&str] = &["axum", "clap", "flexlex-emulators", "flexlex-cli"];

/// The names of every package the root package needs to build for its target (normal and
/// build dependencies, transitively), resolved by cargo itself.
fn product_graph() -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        // The Lambda's target: what `cargo lambda build --arm64` compiles.
        .args(["--filter-platform", "aarch64-unknown-linux-gnu"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: BTreeMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "flexlex")
        .and_then(|p| p["id"].as_str())
        .expect("the flexlex package");

    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            // `dep_kinds[].kind` is null for normal dependencies, "dev" or "build" otherwise.
            let shipped = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if shipped {
                stack.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    seen.into_iter().map(|id| names[id].to_owned()).collect()
}

#[test]
fn the_product_graph_holds_no_tooling() {
    let graph = product_graph();
    // The walk found the product's real dependencies, so an empty graph cannot pass.
    for needed in ["lambda_runtime", "aws-sdk-lexruntimev2", "reqwest"] {
        assert!(graph.contains(needed), "{needed} missing from {graph:?}");
    }
    let leaked: Vec<&str> = TOOLING
        .iter()
        .copied()
        .filter(|t| graph.contains(*t))
        .collect();
    assert_eq!(leaked, Vec::<&str>::new(), "tooling in the Lambda's graph");
}
