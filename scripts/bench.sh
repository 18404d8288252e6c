#!/usr/bin/env bash
# Builds the release binaries the benchmark compares, then runs it. BENCH_RUNS scales the runs;
# arguments name the sections to run (calls, cold, intake, turn, emulated, queue), none runs all.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin bootstrap --example hello_lambda
# The benchmark drives the turn with the test doubles of the ports (feature `testing`).
cargo bench --features testing --bench lambda -- "$@"
