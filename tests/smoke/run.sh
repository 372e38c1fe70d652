#!/usr/bin/env bash
# Runs the smoke test (tests/smoke/test_source_wal.py) with the harness' PY23.
#
# Inside a loopback-only namespace with the harness started ($CDC_HARNESS_DIR set, source
# running): uses what runs and leaves it running.
# Inside a namespace without a running source: starts source (Kafka and etcd with it) in
# $CDC_HARNESS_DIR (a temporary one if unset) and stops what it started on exit.
# Outside a namespace (as root): installs what is needed (idempotent, cached), then re-runs
# itself in a new loopback-only namespace (unshare -n).
# Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
harness="$here/../harness/harness.sh"

non_lo="$( { ip -o link show up | awk -F': ' '$2 != "lo"'; ip -o addr show | awk '$2 != "lo"'; } 2>/dev/null || true)"
if [[ -n "$non_lo" ]]; then
  "$harness" install milvus kafka etcd
  exec unshare -n bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi

started=0
if [[ -z "${CDC_HARNESS_DIR:-}" ]]; then
  CDC_HARNESS_DIR="$(mktemp -d /tmp/cdc-smoke.XXXXXX)"
fi
export CDC_HARNESS_DIR
if ! grep -q '^SOURCE_MILVUS_URI=' "$CDC_HARNESS_DIR/env" 2>/dev/null; then
  trap '"$harness" stop source kafka etcd' EXIT
  started=1
  "$harness" start source
fi
PY23="$(grep '^PY23=' "$CDC_HARNESS_DIR/env" | tail -1 | cut -d= -f2-)"
rc=0
"$PY23" -m pytest -p no:cacheprovider -v -s "$here" "$here/../fixtures" "$@" || rc=$?
exit $rc
