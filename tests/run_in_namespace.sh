#!/usr/bin/env bash
# The part of tests/run.sh that runs inside the loopback-only network namespace: starts the
# real servers with the harness, runs the suites, stops the servers (by PID) on any exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
harness=tests/harness/harness.sh
started=$(date +%s)
# Each suite's heading carries the seconds since the namespace was entered: CI's log then
# shows where its time went.
suite() { printf -- '---- %s (%ds)\n' "$*" $(($(date +%s) - started)); }

ip link set lo up
trap '"$harness" stop' EXIT

"$harness" start lite
set -a # the harness writes plain KEY=VALUE lines; the suites read them from the environment
# shellcheck disable=SC1091
. "$CDC_HARNESS_DIR/env"
set +a
suite "black-box suite: build/cdc-server against milvus-lite at $LITE_URI"
"$PY3" -m pytest -p no:cacheprovider -q tests/blackbox

suite "smoke test: source Milvus 2.3.5 WAL in Kafka"
"$harness" start source
tests/smoke/run.sh -q

suite "integration tests: reader (Kafka), target writer (Milvus target, standby, milvus-lite)"
"$harness" start target standby
set -a
# shellcheck disable=SC1091
. "$CDC_HARNESS_DIR/env"
set +a
build/tests/integration_tests

suite "end-to-end suite: source Milvus 2.3.5 -> Kafka -> cdc-server -> Milvus 2.3.5 / milvus-lite"
tests/e2e/run.sh -q
