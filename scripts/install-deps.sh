#!/usr/bin/env bash
# Installs the system libraries cwrepro links against, if any is missing:
# OpenBLAS, xxHash, SQLite (through GRDB), zlib, and pkg-config to find them.
set -euo pipefail
missing=()
for pc in openblas libxxhash sqlite3 zlib; do
  pkg-config --exists "$pc" 2>/dev/null || missing+=("$pc")
done
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages (missing: ${missing[*]})"
packages="libopenblas-dev libxxhash-dev libsqlite3-dev zlib1g-dev pkg-config"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "error: need root to install: apt-get install -y $packages" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq $packages >/dev/null
