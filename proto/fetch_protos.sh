#!/usr/bin/env bash
# Fetches the pinned upstream Milvus .proto files and copies them to DEST.
#
# The protos come from the npm package @zilliz/milvus2-sdk-node (the last version that still
# ships its .proto files; it carries milvus-proto ~v2.5.10). The tarball is cached outside
# the repository and verified against a pinned sha256 on every use, so a tampered or
# truncated download never reaches the compiler.
set -euo pipefail

dest=${1:?usage: fetch_protos.sh DEST_DIR}
version=2.5.8
sha256=76cf0bda2e0713556c035d250d98e8f6e3134b134159bc59672b1db218492947
cache=${CDC_CACHE_DIR:-$HOME/.cache/milvus-cdc-cpp}/npm
tarball=$cache/zilliz-milvus2-sdk-node-$version.tgz

verified() { [ -f "$tarball" ] && echo "$sha256  $tarball" | sha256sum --check --status; }

if ! verified; then
  mkdir -p "$cache"
  rm -f "$tarball"
  echo "fetch_protos: downloading @zilliz/milvus2-sdk-node@$version with npm"
  (cd "$cache" && npm pack --silent "@zilliz/milvus2-sdk-node@$version" >/dev/null)
  if ! verified; then
    echo "fetch_protos: checksum mismatch for $tarball (expected sha256 $sha256)" >&2
    rm -f "$tarball"
    exit 1
  fi
fi

mkdir -p "$dest"
tar -xzf "$tarball" -C "$dest" --strip-components=4 \
  package/dist/proto/proto/common.proto package/dist/proto/proto/schema.proto \
  package/dist/proto/proto/msg.proto package/dist/proto/proto/rg.proto \
  package/dist/proto/proto/feder.proto package/dist/proto/proto/milvus.proto
echo "fetch_protos: milvus protos of @zilliz/milvus2-sdk-node@$version in $dest"
