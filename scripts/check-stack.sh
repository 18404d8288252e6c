#!/usr/bin/env bash
# Offline checks of the deployable stack: tools installed, template linted, mapping templates in
# sync with vtl/, template and VTL tests run. Idempotent; exits non-zero on the first failure.
#
#   scripts/check-stack.sh            lint + tests
#   scripts/check-stack.sh --build    also cross-compile the Lambda (cargo lambda, arm64, release)
#
# Python tools go into a virtualenv (STACK_VENV, default ~/.cache/flexlex/stack-venv) so they do
# not disturb the machine's own Python packages.
set -euo pipefail

cd "$(dirname "$0")/.."
build=false
[[ "${1:-}" == "--build" ]] && build=true

say() { printf '\n== %s\n' "$*"; }

say "system packages (velocity for the VTL proof)"
if [[ ! -f /usr/share/java/velocity.jar ]] || ! command -v java >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq velocity default-jre-headless >/dev/null
  else
    echo "velocity / java missing: sudo apt-get install -y velocity default-jre-headless" >&2
    exit 1
  fi
fi

say "python tools (cfn-lint, aws-sam-cli$($build && echo ', cargo-lambda'))"
venv="${STACK_VENV:-$HOME/.cache/flexlex/stack-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
pkgs=(cfn-lint aws-sam-cli)
$build && pkgs+=(cargo-lambda)
missing=()
for p in "${pkgs[@]}"; do
  "$venv/bin/python" -m pip show -q "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi
export PATH="$venv/bin:$PATH"
cfn-lint --version
sam --version

say "mapping templates in template.yaml match vtl/"
python3 scripts/sync-vtl.py --check

say "cfn-lint template.yaml"
cfn-lint template.yaml

say "sam validate --lint (offline)"
SAM_CLI_TELEMETRY=0 sam validate --lint --region us-east-1 --template-file template.yaml

say "template and VTL tests"
cargo test --package flexlex --test it -- stack:: vtl::

if $build; then
  say "cargo lambda build --release --arm64 --package flexlex --bin bootstrap"
  export CARGO_TARGET_DIR="${LAMBDA_TARGET_DIR:-${CARGO_TARGET_DIR:-target}}"
  start=$(date +%s)
  cargo lambda build --release --arm64 --package flexlex --bin bootstrap
  artifact="$CARGO_TARGET_DIR/lambda/bootstrap/bootstrap"
  echo "built $artifact: $(stat -c %s "$artifact") bytes in $(( $(date +%s) - start )) s"
fi

say "stack checks passed"
