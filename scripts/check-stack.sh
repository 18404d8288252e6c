#!/usr/bin/env bash
# Offline checks of the deployable stack: tools installed, template linted and security-scanned,
# mapping templates in sync with vtl/, template and VTL tests run. Idempotent; exits non-zero on
# the first failure.
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

say "python tools (cfn-lint, aws-sam-cli, checkov$($build && echo ', cargo-lambda'))"
venv="${STACK_VENV:-$HOME/.cache/flexlex/stack-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
# checkov 3.3 pins a boto3 that aws-sam-cli's pin excludes, so pip settles on the newest 3.x
# release that lives with SAM CLI in one virtualenv (3.2.x); both give this template the same
# findings.
pkgs=(cfn-lint aws-sam-cli 'checkov>=3,<4')
$build && pkgs+=(cargo-lambda)
missing=()
for p in "${pkgs[@]}"; do
  "$venv/bin/python" -m pip show -q "${p%%[<>=]*}" >/dev/null 2>&1 || missing+=("$p")
done
# Install the whole list even when one is missing: pip then resolves them together (installing
# checkov alone would downgrade the boto3 that SAM CLI pins).
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pkgs[@]}"
fi
export PATH="$venv/bin:$PATH"
cfn-lint --version
sam --version
echo "checkov $(CKV_SKIP_PACKAGE_UPDATE_CHECK=true checkov --version)"

say "mapping templates in template.yaml match vtl/"
python3 scripts/sync-vtl.py --check

say "cfn-lint template.yaml"
cfn-lint template.yaml

say "sam validate --lint (offline)"
SAM_CLI_TELEMETRY=0 sam validate --lint --region us-east-1 --template-file template.yaml

say "checkov: every finding fixed or suppressed on its resource with a reason"
# Checkov leaves out some resources and statements whose Condition is false under the
# parameters' defaults, so the template is scanned twice: as deployed by default, and with
# every optional resource and statement switched on (demo bot, API Gateway logs role, KMS keys,
# tracing, reserved concurrency, alarm topic). Suppressions live only in each resource's Metadata (checkov: skip:
# id + comment); no --skip-check, and no .checkov.yaml is read (run from an empty directory with
# HOME pointing there).
scan_dir=$(mktemp -d)
trap 'rm -rf "$scan_dir"' EXIT
mkdir "$scan_dir/default" "$scan_dir/all-options"
cp template.yaml "$scan_dir/default/template.yaml"
python3 - template.yaml "$scan_dir/all-options/template.yaml" <<'PY'
import re, sys
src, out = sys.argv[1], sys.argv[2]
on = {
    "DeployDemoBot": "'true'",
    "CreateApiGatewayLogsRole": "'true'",
    "Tracing": "Active",
    "ReservedConcurrency": "20",
    "KmsKeyArn": "'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000'",
    "TwilioSecretKmsKeyArn": "'arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111'",
    "AlarmEmail": "ops@example.com",
}
lines = open(src).read().splitlines(keepends=True)
section, param, switched = None, None, set()
for i, line in enumerate(lines):
    top = re.match(r"^(\w+):", line)
    if top:
        section, param = top.group(1), None
        continue
    if section != "Parameters":
        continue
    name = re.match(r"^  (\w+):\s*$", line)
    if name:
        param = name.group(1)
    elif param in on and re.match(r"^    Default:", line):
        lines[i] = f"    Default: {on[param]}\n"
        switched.add(param)
if switched != set(on):
    sys.exit(f"check-stack: no Default to switch on for {sorted(set(on) - switched)}")
open(out, "w").write("".join(lines))
PY
for variant in default all-options; do
  (
    cd "$scan_dir/$variant"
    HOME="$scan_dir" CKV_SKIP_PACKAGE_UPDATE_CHECK=true checkov -f template.yaml \
      --framework cloudformation --skip-download -o json >report.json || true
  )
  python3 - "$variant" "$scan_dir/$variant/report.json" <<'PY'
import json, sys
variant, path = sys.argv[1], sys.argv[2]
try:
    report = json.load(open(path))
except ValueError:
    sys.exit(f"checkov ({variant}): no JSON report")
summary, results = report["summary"], report["results"]
print(f"{variant}: passed {summary['passed']}, failed {summary['failed']}, "
      f"skipped {summary['skipped']} (checkov {summary['checkov_version']}, "
      f"{summary['resource_count']} resources)")
problems = []
if summary["parsing_errors"] or not summary["resource_count"]:
    problems.append("template.yaml was not parsed")
for c in results.get("failed_checks", []):
    problems.append(f"{c['check_id']} ({c['check_name']}) failed on {c['resource']}")
for c in results.get("skipped_checks", []):
    comment = (c.get("check_result") or {}).get("suppress_comment") or ""
    if not comment.strip() or comment == "No comment provided":
        problems.append(f"{c['check_id']} suppressed on {c['resource']} without a reason")
if problems:
    print("\n".join(f"  {p}" for p in problems))
    sys.exit(f"checkov ({variant}): fix the finding, or suppress it in the resource's Metadata "
             "(checkov: skip: - id, comment) with a reason a reviewer accepts, and add it to "
             "docs/deploy.md (Security review)")
PY
done

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
