#!/usr/bin/env bash
# Builds the release binaries the benchmark compares, then runs it. BENCH_RUNS scales the runs;
# arguments name the sections to run (calls, cold, intake, turn, emulated, queue), none runs all.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --bin bootstrap --example hello_lambda
# Kept aside as shipped: `cargo bench` below rebuilds the package with the test doubles of the
# ports (feature `testing`), which would replace target/release/bootstrap.
mkdir -p "$target/bench-bin"
cp "$target/release/bootstrap" "$target/release/examples/hello_lambda" "$target/bench-bin/"
FLEXLEX_BENCH_BIN="$target/bench-bin" cargo bench --features testing --bench lambda -- "$@"
