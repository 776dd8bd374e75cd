#!/usr/bin/env bash
# Times one training step of the same models in cwrepro and in real PyTorch (CPU, float32, same
# batch and thread count) and prints a table: model, cwrepro ms/step, torch ms/step, ratio, and the
# overhead of recording at level grads.  For each thread count and model, the cwrepro runs (one per
# reduction mode) and the torch run follow each other, so both sides see the same machine.
#
# usage: scripts/bench-vs-torch.sh [threads...]            (default: 1 2)
#   CONFIGS   models (default: the issue-17 table: MLP 784-512-512-10 batch 128, MNIST CNN
#             2 conv + 2 dense batch 64, ResNet-20 CIFAR shape batch 64)
#   BATCH     one batch size for every model (default: each config's own)
#   REDUCTIONS  cwrepro's determinism.reduction values to time (default: "sequential chunked")
#   GEMMS     cwrepro's determinism.gemm values to time (default: "openblas reference")
#   STEPS (20)  timed steps per run, after 3 untimed ones
# Needs torch: pip install 'torch==2.13.0+cpu' (`make bench-torch` runs it with .venv's python).
# OPENBLAS_CORETYPE in the environment selects the OpenBLAS kernels of the cwrepro side.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=("$@"); [ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2)
STEPS=${STEPS:-20}
REDUCTIONS=${REDUCTIONS:-"sequential chunked"}
GEMMS=${GEMMS:-"openblas reference"}
CONFIGS=${CONFIGS:-"scripts/bench/mlp-512.json scripts/bench/cnn-mnist.json scripts/bench/resnet20-synthetic.json"}
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "torch is not installed for $PYTHON: pip install 'torch==2.13.0+cpu'" >&2; exit 2; }
swift build -c release --product Benchmarks >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rows=()
for t in "${THREADS[@]}"; do
  for c in $CONFIGS; do
    [ -f "$c" ] || { echo "skip $c (missing)" >&2; continue; }
    batch=()
    [ -n "${BATCH:-}" ] && batch=(--batch "$BATCH")
    ours=()
    for gm in $GEMMS; do
      for r in $REDUCTIONS; do
        ours+=("$(.build/release/Benchmarks step "$c" "${batch[@]}" --threads "$t" --reduction "$r" --gemm "$gm" --steps "$STEPS" --model "$tmp/model.json")")
      done
    done
    b=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["batch"])' "${ours[0]}")
    theirs=$("$PYTHON" scripts/bench_torch.py "$tmp/model.json" --batch "$b" --threads "$t" --steps "$STEPS")
    for o in "${ours[@]}"; do rows+=("$o"$'\t'"$theirs"); done
  done
done
printf '%s\n' "${rows[@]}" | "$PYTHON" scripts/bench_table.py
