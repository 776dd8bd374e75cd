#!/usr/bin/env bash
# Sets up the Python environment the Python package and its tests need, in .venv inside the
# checkout (git ignores it): real PyTorch and Keras are the references cwrepro is compared with,
# never dependencies of the Swift product. Reused when it already holds these exact versions.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
requirements=(
  "torch==2.13.0+cpu"        # a local wheel on the project's machines (pip's find-links)
  "keras==3.15.1" "tensorflow-cpu==2.21.0" "ray[tune]==2.60.0"
  "xxhash" "numpy" "pytest"
)
stamp="$venv/.cwrepro-requirements"
want="$(printf '%s\n' "${requirements[@]}")"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "error: $python not found; install Python 3.11 (with venv and pip)" >&2; exit 1; }
echo "setting up $venv (torch, keras, tensorflow-cpu, ray with Tune, xxhash, numpy, pytest; a few minutes the first time)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
printf '%s\n' "$want" > "$stamp"
