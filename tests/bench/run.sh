#!/usr/bin/env bash
# The CDC benchmark (tests/bench/cdc_bench.py), side by side with a milvus-cdc binary when
# --peer PATH is given. Runs INSIDE a loopback-only network namespace, with the harness and
# the plot venv installed beforehand:
#   export CDC_HARNESS_DIR=$(mktemp -d /tmp/bench.XXXX)
#   tests/harness/harness.sh install milvus kafka etcd       # outside the namespace
#   tests/bench/plot_venv.sh                                 # outside (matplotlib, optional)
#   unshare -n bash -c 'ip link set lo up; tests/bench/run.sh --runs 3 --peer /path/to/cdc'
#
# Starts what it needs with the harness (source, standby, target; Kafka and etcd come with
# the source) and on exit stops, by PID, what it started (components already running are
# left running). Arguments go to cdc_bench.py (--runs, --only, --modes, --peer, --out, ...).
# Environment: CDC_HARNESS_DIR (required), CDC_CACHE_DIR (harness cache).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
harness="$root/tests/harness/harness.sh"
started_at=$(date +%s)

: "${CDC_HARNESS_DIR:?set CDC_HARNESS_DIR (the harness directory; see tests/harness/README.md)}"
export CDC_HARNESS_DIR

non_lo="$( { ip -o link show up | awk -F': ' '$2 != "lo"'; ip -o addr show | awk '$2 != "lo"'; } 2>/dev/null || true)"
if [[ -n "$non_lo" ]]; then
  echo "bench: not in a loopback-only network namespace; run it as" >&2
  echo "  unshare -n bash -c 'ip link set lo up; tests/bench/run.sh ...'" >&2
  exit 2
fi

running() { "$harness" status 2>/dev/null | awk -F: '/: running/{print $1}' | sort; }
before="$(running || true)"
stop_started() {
  local rc=$? now name to_stop=()
  now="$(running || true)"
  for name in source standby target kafka etcd; do
    if grep -qx "$name" <<<"$now" && ! grep -qx "$name" <<<"$before"; then
      to_stop+=("$name")
    fi
  done
  if ((${#to_stop[@]})); then
    echo "---- bench: stopping ${to_stop[*]}"
    "$harness" stop "${to_stop[@]}" || rc=1
  fi
  echo "---- bench: finished with exit code $rc after $(($(date +%s) - started_at)) s"
  exit $rc
}
trap stop_started EXIT
trap 'exit 130' INT TERM

echo "---- bench: starting source, standby, target in $CDC_HARNESS_DIR"
"$harness" start source standby target
set -a
# shellcheck disable=SC1091
. "$CDC_HARNESS_DIR/env"
set +a

plot_py="${CDC_CACHE_DIR:-$HOME/.cache/milvus-cdc-cpp}/venv-bench-plot/bin/python"
[[ -x "$plot_py" ]] && export CDC_BENCH_PLOT_PY="$plot_py"
cd "$root"
"$PY23" -u "$here/cdc_bench.py" "$@"
