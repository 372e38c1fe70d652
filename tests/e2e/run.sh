#!/usr/bin/env bash
# End-to-end suite: source Milvus 2.3.5 -> Kafka -> cdc-server -> target Milvus 2.3.5 and
# milvus-lite 3.2.2 (mode api), standby Milvus 2.3.5 (mode replicate) (tests/e2e/*.py, run
# with the harness' $PY23).
#
# Runs INSIDE a loopback-only network namespace, with the harness installed beforehand:
#   export CDC_HARNESS_DIR=$(mktemp -d)
#   tests/harness/harness.sh install milvus kafka etcd lite
#   unshare -n bash -c 'ip link set lo up; tests/e2e/run.sh'
#
# Starts what it needs (harness: source, target, standby, lite; kafka and etcd come with
# source) and on exit stops, by PID, what it started (components already running are left running).
# Environment: CDC_HARNESS_DIR (required), CDC_SERVER (default build/cdc-server),
# CDC_E2E_ARTIFACTS (default $CDC_HARNESS_DIR/e2e: server logs and data, report.txt),
# CDC_E2E_TESTS (default: every test file here).
# Extra arguments go to pytest (e.g. -k kill9, -x).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
harness="$root/tests/harness/harness.sh"
started_at=$(date +%s)

: "${CDC_HARNESS_DIR:?set CDC_HARNESS_DIR (the harness directory; see tests/harness/README.md)}"
export CDC_HARNESS_DIR
export CDC_SERVER="${CDC_SERVER:-$root/build/cdc-server}"
export CDC_E2E_ARTIFACTS="${CDC_E2E_ARTIFACTS:-$CDC_HARNESS_DIR/e2e}"
if [[ ! -x "$CDC_SERVER" ]]; then
  echo "e2e: $CDC_SERVER not found; build it first:" >&2
  echo "  cmake -S . -B build -G Ninja && cmake --build build --target cdc-server" >&2
  exit 2
fi

non_lo="$( { ip -o link show up | awk -F': ' '$2 != "lo"'; ip -o addr show | awk '$2 != "lo"'; } 2>/dev/null || true)"
if [[ -n "$non_lo" ]]; then
  echo "e2e: not in a loopback-only network namespace; run it as" >&2
  echo "  unshare -n bash -c 'ip link set lo up; tests/e2e/run.sh'" >&2
  exit 2
fi

running() { "$harness" status 2>/dev/null | awk -F: '/: running/{print $1}' | sort; }
before="$(running || true)"
stop_started() {
  local rc=$? now name to_stop=()
  now="$(running || true)"
  for name in source target standby lite kafka etcd; do
    if grep -qx "$name" <<<"$now" && ! grep -qx "$name" <<<"$before"; then
      to_stop+=("$name")
    fi
  done
  if ((${#to_stop[@]})); then
    echo "---- e2e: stopping ${to_stop[*]}"
    "$harness" stop "${to_stop[@]}" || rc=1
  fi
  echo "---- e2e: finished with exit code $rc after $(($(date +%s) - started_at)) s"
  exit $rc
}
trap stop_started EXIT
trap 'exit 130' INT TERM

echo "---- e2e: starting source, target, standby, lite in $CDC_HARNESS_DIR"
"$harness" start source target standby lite
set -a
# shellcheck disable=SC1091
. "$CDC_HARNESS_DIR/env"
set +a

mkdir -p "$CDC_E2E_ARTIFACTS"
: >"$CDC_E2E_ARTIFACTS/report.txt"
echo "---- e2e: cdc-server $CDC_SERVER; artifacts in $CDC_E2E_ARTIFACTS"
rc=0
(cd "$root" && "$PY23" -m pytest -p no:cacheprovider -v -s -rA \
   -W ignore::DeprecationWarning "${CDC_E2E_TESTS:-$here}" "$@") || rc=$?
echo "---- e2e: measured figures and notes ($CDC_E2E_ARTIFACTS/report.txt)"
cat "$CDC_E2E_ARTIFACTS/report.txt"
exit $rc
