#!/bin/sh
# Runs the Python tests (python/tests) against the checkout's package (PYTHONPATH=python).
# The virtual environment is $CWREPRO_VENV, default .venv at the repository root (git-ignored);
# it is created, and python/requirements-test.txt installed into it, only when it lacks something
# the tests import. Extra arguments go to pytest (e.g. -k torch, -x).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${CWREPRO_VENV:-$root/.venv}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv"
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import numpy, xxhash, pytest, torch, keras, tensorflow" >/dev/null 2>&1; then
    echo "installing python/requirements-test.txt into $venv (torch, keras, tensorflow-cpu: about 1 GB)"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -r "$root/python/requirements-test.txt"
fi
cd "$root"
TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} PYTHONPATH="$root/python" exec "$venv/bin/python" -m pytest python/tests -q "$@"
