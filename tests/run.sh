#!/usr/bin/env bash
# Runs every test of the project; the README's test command, and what CI runs (.ci/run).
#
#   1. installs the Debian packages (deploy/setup.sh) and builds (cmake + ninja);
#   2. unit tests (doctest through ctest);
#   3. installs the real components the other suites need (tests/harness, cached);
#   4. enters ONE loopback-only network namespace (unshare -n) and there runs
#      the black-box suite (real cdc-server binary, milvus-lite 3.2.2 as target),
#      the smoke test (source Milvus 2.3.5 writing its WAL to a real Kafka), the integration
#      tests (reader on Kafka, target writer on Milvus) and the end-to-end suite (tests/e2e).
# Every server started in step 4 is stopped by PID on exit, also when a suite fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
started=$(date +%s)

section() { printf '\n==== %s (%ds)\n' "$*" $(($(date +%s) - started)); }

section "set-up and build"
bash deploy/setup.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build

section "unit tests"
ctest --test-dir build --output-on-failure

section "installing real components (cached)"
tests/harness/harness.sh install lite milvus kafka etcd

export CDC_HARNESS_DIR
CDC_HARNESS_DIR=$(mktemp -d /tmp/cdc-tests.XXXXXX)
export CDC_SERVER="$root/build/cdc-server"

section "suites against real servers, in a loopback-only network namespace"
unshare -n bash "$root/tests/run_in_namespace.sh"
section "all test suites passed"
