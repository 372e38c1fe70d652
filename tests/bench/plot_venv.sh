#!/usr/bin/env bash
# Installs matplotlib for tests/bench/plot.py into its own venv in the harness cache
# (${CDC_CACHE_DIR:-~/.cache/milvus-cdc-cpp}/venv-bench-plot), once; a second call checks the
# stamp and downloads nothing. Run it OUTSIDE the network namespace (it needs PyPI); prints
# the venv's python.
set -euo pipefail
CACHE="${CDC_CACHE_DIR:-$HOME/.cache/milvus-cdc-cpp}"
VENV="$CACHE/venv-bench-plot"
SPEC=(matplotlib==3.9.2 numpy)
want="$(printf '%s\n' "${SPEC[@]}")"
if [[ -x "$VENV/bin/python" && -f "$VENV/.bench-installed" &&
      "$(cat "$VENV/.bench-installed")" == "$want" ]]; then
  echo "$VENV/bin/python"
  exit 0
fi
echo "[plot_venv] creating $VENV with: ${SPEC[*]}" >&2
rm -rf "$VENV"
mkdir -p "$CACHE"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${SPEC[@]}" >&2
"$VENV/bin/python" -c 'import matplotlib' >&2
printf '%s\n' "$want" >"$VENV/.bench-installed"
echo "$VENV/bin/python"
