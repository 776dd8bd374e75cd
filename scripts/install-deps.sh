#!/usr/bin/env bash
# Installs the system libraries cwrepro links against, if any is missing:
# OpenBLAS, xxHash, SQLite (through GRDB), zlib, and pkg-config to find them.
# With --tests, also qemu-user: the test suite runs cwrepro on an emulated AVX2-only CPU.
# (Both test-only packages are installed by `make test`; `make demo` needs neither.)
set -euo pipefail
missing=()
for pc in openblas libxxhash sqlite3 zlib; do
  pkg-config --exists "$pc" 2>/dev/null || missing+=("$pc")
done
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
packages="libopenblas-dev libxxhash-dev libsqlite3-dev zlib1g-dev pkg-config"
if [ "${1:-}" = "--tests" ] && ! command -v qemu-x86_64 >/dev/null 2>&1; then
  missing+=(qemu-x86_64); packages="$packages qemu-user"
fi
# With --tests, also Chromium: HTML reports are checked in a headless browser.
if [ "${1:-}" = "--tests" ] && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium); packages="$packages chromium"
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages (missing: ${missing[*]})"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "error: need root to install: apt-get install -y $packages" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq $packages >/dev/null
