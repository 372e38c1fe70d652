#!/usr/bin/env bash
# Installs every Debian package the build, the server and the tests need.
# Idempotent: packages already present are not downloaded again.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config clang-format
  # libraries of the server
  libcaf-dev librestinio-dev libasio-dev libfmt-dev libhttp-parser-dev rapidjson-dev
  librdkafka-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  librocksdb-dev libspdlog-dev libyaml-cpp-dev doctest-dev
  # tests: network namespaces, HTTP client, venvs for milvus-lite
  iproute2 util-linux curl python3-venv
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# The proto build step fetches the pinned Milvus protos with npm. Machines that already have
# Node.js from elsewhere keep their npm (Debian's npm package would conflict with it).
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages already installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
