#!/usr/bin/env bash
# From a fresh machine to a running server: installs the Debian packages, builds, and starts
# build/cdc-server in the foreground. Arguments go to the server, e.g.
#   deploy/start.sh --listen 127.0.0.1:8444 --data-dir /var/lib/cdc
# With none it listens on 0.0.0.0:8444 and keeps its data in ./cdc-data.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash deploy/setup.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build --target cdc-server
exec build/cdc-server "$@"
