#!/usr/bin/env bash
# Times one training step of the same models in cwrepro and in real PyTorch (CPU, float32, same
# batch and thread count) and prints a table: model, cwrepro ms/step, torch ms/step, ratio, and the
# overhead of recording at level grads.  usage: scripts/bench-vs-torch.sh [threads] [batch]
# Needs torch: pip install 'torch==2.13.0+cpu'.  `make bench-torch` runs it. OPENBLAS_CORETYPE (e.g. SkylakeX)
# in the environment selects the OpenBLAS kernels of the cwrepro side; STEPS (20) and CONFIGS override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
BATCH=${2:-64}
STEPS=${STEPS:-20}
CONFIGS=${CONFIGS:-"scripts/bench/mlp-mnist.json examples/mnist-cnn.json scripts/bench/resnet20-synthetic.json"}
python3 -c 'import torch' 2>/dev/null || { echo "torch is not installed: pip install 'torch==2.13.0+cpu'" >&2; exit 2; }
swift build -c release --product Benchmarks >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rows=()
for c in $CONFIGS; do
  [ -f "$c" ] || { echo "skip $c (missing)" >&2; continue; }
  ours=$(.build/release/Benchmarks step "$c" --batch "$BATCH" --threads "$THREADS" --steps "$STEPS" --model "$tmp/model.json")
  theirs=$(python3 scripts/bench_torch.py "$tmp/model.json" --batch "$BATCH" --threads "$THREADS" --steps "$STEPS")
  rows+=("$ours"$'\t'"$theirs")
done
printf '%s\n' "${rows[@]}" | python3 scripts/bench_table.py
