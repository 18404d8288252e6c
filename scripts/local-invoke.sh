#!/usr/bin/env bash
# The release `bootstrap` under Cargo Lambda's own Runtime API emulator, as docs/deploy.md
# ("Running locally") tells a developer to run it: `flexlex emulators` plays Lex and Twilio,
# `cargo lambda watch --only-lambda-apis` serves the Runtime API (and sends its deadline as a
# duration), the function polls it, and `cargo lambda invoke` sends every file of events/. Each
# outcome is read from the function's JSON log line and checked, with what Twilio received.
#
#   scripts/local-invoke.sh
#   FLEXLEX_BOOTSTRAP=target/debug/bootstrap scripts/local-invoke.sh   # another build, no release build
#
# Then the two-role path when moto_server is installed: intake queues order-flowers on SQS, and
# turn-batch.json (that job, as the SQS trigger delivers it) runs with its state in DynamoDB.
#
# cargo-lambda comes from PATH or from scripts/check-stack.sh's virtualenv (STACK_VENV).
# Everything it starts is stopped when it ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'local-invoke: %s\n' "$*" >&2; exit 1; }

venv="${STACK_VENV:-$HOME/.cache/flexlex/stack-venv}"
[[ -x "$venv/bin/cargo-lambda" ]] && export PATH="$venv/bin:$PATH"
command -v cargo-lambda >/dev/null \
  || fail "cargo-lambda not found: run scripts/check-stack.sh --build, or pip install cargo-lambda"
cargo lambda --version

# The expected outcome of each sample, in the order they are sent. Every file of events/ must
# have one, so a new sample cannot go unchecked.
order=(forged-signature bot-echo order-flowers turn-batch ask-for-agent)
declare -A expected=(
  [forged-signature]=rejected:signature
  [bot-echo]=ignored:own_message
  [order-flowers]=replied
  [turn-batch]=ignored:duplicate   # order-flowers' own job: already answered
  [ask-for-agent]=handed_off
)
for file in events/*.json; do
  name=$(basename "$file" .json)
  [[ -n "${expected[$name]:-}" ]] || fail "events/$name.json has no expected outcome in $0"
done

target="${CARGO_TARGET_DIR:-target}"
bootstrap="${FLEXLEX_BOOTSTRAP:-}"
if [[ -z "$bootstrap" ]]; then
  say "build: the release bootstrap (fat LTO: minutes the first time)"
  cargo build --release --quiet --package flexlex --bin bootstrap
  bootstrap="$target/release/bootstrap"
fi
say "build: the flexlex tool"
cargo build --quiet --package flexlex-cli --bin flexlex
flexlex="$target/debug/flexlex"
[[ -x "$bootstrap" ]] || fail "no bootstrap at $bootstrap"
echo "function: $bootstrap"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for WHAT SECONDS COMMAND...: runs COMMAND until it succeeds, at most SECONDS.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$what: not ready after ${seconds}s"
    sleep 0.2
  done
}
listening() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_function NAME EXTRA_ARGS...: emulators, Cargo Lambda's runtime and the function.
# Sets rt_port, fn_log and emu_log.
start_function() {
  local name=$1; shift
  local lex_port twilio_port
  lex_port=$(free_port); twilio_port=$(free_port); rt_port=$(free_port)
  emu_log="$work/$name-emulators.log"; fn_log="$work/$name-function.log"
  : >"$emu_log"; : >"$fn_log"
  "$flexlex" emulators --lex-port "$lex_port" --twilio-port "$twilio_port" \
    --env-file "$work/$name.env" "$@" >"$emu_log" 2>&1 &
  pids+=($!)
  wait_for "flexlex emulators (log: $(cat "$emu_log" 2>/dev/null))" 60 grep -q '^# ready' "$emu_log"
  cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$rt_port" \
    >"$work/$name-watch.log" 2>&1 &
  pids+=($!)
  wait_for "cargo lambda watch on port $rt_port" 60 listening "$rt_port"
  (
    set -a
    # shellcheck disable=SC1090
    source "$work/$name.env"
    set +a
    export AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$rt_port/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
      AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
      AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_LOG_LEVEL=INFO
    exec "$bootstrap"
  ) >"$fn_log" 2>&1 &
  pids+=($!)
  echo "emulators, cargo lambda watch (port $rt_port) and bootstrap started"
}

# outcome_lines: how many per-event lines the function has written.
outcome_lines() { local n; n=$(grep -c '"outcome"' "$fn_log" 2>/dev/null) || true; echo "${n:-0}"; }
more_outcomes_than() { (($(outcome_lines) > $1)); }

# invoke NAME EXPECTED: sends events/NAME.json and checks the outcome of its log line.
invoke() {
  local name=$1 want=$2 before got
  before=$(outcome_lines)
  if ! timeout 60 cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$rt_port" \
    --data-file "events/$name.json" >"$work/invoke.out" 2>&1; then
    fail "cargo lambda invoke events/$name.json failed: $(cat "$work/invoke.out")
function log:
$(tail -20 "$fn_log")"
  fi
  wait_for "the log line of events/$name.json" 30 more_outcomes_than "$before"
  got=$(grep '"outcome"' "$fn_log" | sed -n "$((before + 1))p" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["outcome"])')
  printf '  %-22s -> %-22s (answer: %s)\n' "$name.json" "$got" "$(tr -d '\n' <"$work/invoke.out")"
  [[ "$got" == "$want" ]] || fail "events/$name.json: outcome $got, expected $want
function log:
$(tail -20 "$fn_log")"
}

# twilio_saw PATTERN WHY: the emulators' log shows PATTERN.
twilio_saw() {
  wait_for "$2 (emulators log: $(cat "$emu_log"))" 10 grep -qE "$1" "$emu_log"
}

say "one process: intake runs each turn at once, state in memory"
start_function single
for name in "${order[@]}"; do
  invoke "$name" "${expected[$name]}"
done
twilio_saw '^twilio  (message|card) CH0123456789abcdef0123456789abcdef Lex: .*What type of flowers' \
  "the bot's question to the order"
twilio_saw '^twilio  interaction CHfedcba9876543210fedcba9876543210 type=whatsapp' \
  "the Flex interaction of the agent request"
twilio_saw '^twilio  webhook-removed CHfedcba9876543210fedcba9876543210 WHfedcba9876543210fedcba9876543210' \
  "the bot's webhook removed at handoff"
python3 - "$fn_log" <<'PY'
import json, sys
said = []
for line in open(sys.argv[1]):
    try:
        value = json.loads(line)
    except ValueError:
        continue
    if "Lambda-Runtime-Deadline-Ms" in value.get("fields", {}).get("message", ""):
        said.append(value["fields"])
if len(said) != 1:
    sys.exit(f"local-invoke: expected the deadline fallback said once, got {said}")
f = said[0]
print(f"  deadline fallback said once: deadlineMs={f['deadlineMs']} reason={f['reason']} "
      f"timeoutSecs={f['timeoutSecs']}")
if (f["deadlineMs"], f["reason"]) != (600000, "already_past"):
    sys.exit("local-invoke: Cargo Lambda's deadline should read as 600000, already past")
PY

say "two roles: intake queues on SQS, the turn runs turn-batch.json with DynamoDB state (moto)"
if ! command -v moto_server >/dev/null; then
  [[ "${CI:-}" == "true" ]] && fail "moto_server is required under CI=true"
  echo "skipped: moto_server not installed (pip install \"moto[server]\")"
  say "local invoke checks passed"
  exit 0
fi
moto_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_for "moto_server on port $moto_port" 60 listening "$moto_port"
start_function roles --moto "http://127.0.0.1:$moto_port"
invoke forged-signature rejected:signature
invoke order-flowers enqueued
python3 - "http://127.0.0.1:$moto_port" "$work/roles.env" <<'PY'
import json, sys
import boto3  # installed with moto
endpoint, env = sys.argv[1], dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[2]))
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="AKIDFLEXLEXLOCAL", aws_secret_access_key="flexlex-local")
# The queued job must be the body turn-batch.json carries; looked at, left for no one.
got = sqs.receive_message(QueueUrl=env["TURN_QUEUE_URL"], MaxNumberOfMessages=10,
                          AttributeNames=["All"], VisibilityTimeout=0)
bodies = [m["Body"] for m in got.get("Messages", [])]
sample = json.load(open("events/turn-batch.json"))["Records"][0]["body"]
if bodies != [sample]:
    sys.exit(f"local-invoke: the queue holds {bodies}, turn-batch.json carries {sample}")
print("  the queue holds exactly turn-batch.json's job")
PY
invoke turn-batch replied
invoke turn-batch ignored:duplicate
twilio_saw '^twilio  (message|card) CH0123456789abcdef0123456789abcdef Lex: .*What type of flowers' \
  "the bot's question to the order (turn role)"

say "local invoke checks passed"
