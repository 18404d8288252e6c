//! What ships: the root package is the Lambda and nothing else. The local tooling's crates and
//! their frameworks, and what only a developer's machine needs (signing in with SSO or a
//! credential process), must never come back into the graph the Lambda is compiled from, where
//! they would be built into every `sam build`.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates that belong to local tooling only.
const TOOLING: &[&str] = &[
    "axum",
    "clap",
    "flexlex-emulators",
    "flexlex-cli",
    // aws-config's `sso` feature: the CLI signs in with SSO, the Lambda has its role.
    "aws-sdk-sso",
    "aws-sdk-ssooidc",
];

/// aws-config features only a developer's machine uses.
const TOOLING_FEATURES: &[&str] = &["sso", "credentials-process"];

/// `cargo tree` over what `sam build` compiles: SAM runs `cargo lambda build --release --arm64
/// --bin bootstrap` at the workspace root with no `--package`, so the workspace's default
/// members are built together and their features unified. Were the CLI a default member, its
/// aws-config features (SSO) would be compiled into the Lambda; this walks the same selection.
/// Normal and build dependencies, for the Lambda's target. One line per package (or, with
/// `features`, per enabled feature).
fn product_tree(edges: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "--prefix", "none"])
        .args(["-e", edges])
        .args(["--target", "aarch64-unknown-linux-gnu"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim_end_matches(" (*)").to_owned())
        .collect()
}

/// The package names in the product's graph.
fn product_graph() -> BTreeSet<String> {
    product_tree("normal,build")
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_product_graph_holds_no_tooling() {
    let graph = product_graph();
    // The walk found the product's real dependencies, so an empty graph cannot pass.
    for needed in [
        "lambda_runtime",
        "aws-sdk-lexruntimev2",
        "reqwest",
        "aws-config",
    ] {
        assert!(graph.contains(needed), "{needed} missing from {graph:?}");
    }
    let leaked: Vec<&str> = TOOLING
        .iter()
        .copied()
        .filter(|t| graph.contains(*t))
        .collect();
    assert_eq!(leaked, Vec::<&str>::new(), "tooling in the Lambda's graph");
}

#[test]
fn the_products_aws_config_reads_credentials_as_lambda_gives_them() {
    let features: BTreeSet<String> = product_tree("normal,build,features")
        .into_iter()
        .filter_map(|line| {
            let rest = line.strip_prefix("aws-config feature \"")?;
            Some(rest.trim_end_matches('"').to_owned())
        })
        .collect();
    // The walk saw aws-config's features at all, so an empty set cannot pass.
    assert!(features.contains("rt-tokio"), "{features:?}");
    let leaked: Vec<&str> = TOOLING_FEATURES
        .iter()
        .copied()
        .filter(|f| features.contains(*f))
        .collect();
    assert_eq!(
        leaked,
        Vec::<&str>::new(),
        "aws-config features: {features:?}"
    );
}
