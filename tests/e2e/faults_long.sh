#!/usr/bin/env bash
# The fault matrix of tests/e2e/test_faults.py with the outages and data that CI has no time
# for: every server down for more than a minute (CDC_E2E_FAULT_DOWNTIME, default 70 s; the
# target's outage outlasts the retries of a call, so the pipeline restarts meanwhile), rounds
# of 5 000 rows (CDC_E2E_FAULT_ROUND), the whole matrix RUNS times (default 3), each run in a
# loopback-only network namespace of its own. Needs root (unshare -n); about 25 minutes a run.
#
#   tests/e2e/faults_long.sh [RUNS] [pytest arguments, e.g. -k replicate]
#
# Stops at the first failing run; the servers' and cdc-server's logs stay in the printed
# harness directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs="${1:-3}"
shift || true
export CDC_E2E_FAULT_DOWNTIME="${CDC_E2E_FAULT_DOWNTIME:-70}"
export CDC_E2E_FAULT_ROUND="${CDC_E2E_FAULT_ROUND:-5000}"
export CDC_E2E_TEST_TIMEOUT="${CDC_E2E_TEST_TIMEOUT:-1800}"
export CDC_E2E_TESTS="$root/tests/e2e/test_faults.py"
"$root/tests/harness/harness.sh" install milvus kafka etcd lite
for run in $(seq 1 "$runs"); do
  export CDC_HARNESS_DIR
  CDC_HARNESS_DIR="$(mktemp -d /tmp/cdc-faults.XXXXXX)"
  echo "==== fault matrix, run $run of $runs, downtime ${CDC_E2E_FAULT_DOWNTIME}s, rounds of" \
       "${CDC_E2E_FAULT_ROUND} rows; logs in $CDC_HARNESS_DIR"
  unshare -n bash -c 'ip link set lo up && exec "$@"' _ "$root/tests/e2e/run.sh" -x "$@"
done
echo "==== fault matrix: $runs run(s) passed"
