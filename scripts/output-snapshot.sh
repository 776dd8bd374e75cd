#!/usr/bin/env bash
# Runs the README tour and the other user-facing commands with one cwrepro binary and writes each
# command's exit code, stdout and stderr to OUT/<n>.txt with timings and timestamps masked, so two
# builds can be compared byte for byte (`diff -r before after`). Used to check that a refactoring
# changes no output: scripts/output-snapshot.sh .build/debug/cwrepro /tmp/before
set -u
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
OUT=$2
T=/tmp/cwrepro-snapshot-work
rm -rf "$OUT" "$T"; mkdir -p "$OUT" "$T"
n=0
mask() {
  sed -E -e 's/[0-9]+(\.[0-9]+)? (s|ms)\b/<time>/g' \
         -e 's/[0-9]+ steps\/s/<rate>/g' \
         -e 's/"(seconds|wallSeconds|gflops|min|max|mean|std|range)" : [0-9.e+-]+/"\1" : <num>/g' \
         -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/<timestamp>/g' \
         -e 's/time="[0-9.]+"/time="<t>"/g' \
         -e '/^  [A-Za-z].* [0-9a-f]{8} /s/[0-9]+\.[0-9]/<gflops>/g' \
         -e '/^speed at|"speed at/s/ [0-9]+(,|$|")/ <n>\1/g'
}
run() {  # run <label> <command...>
  n=$((n + 1))
  local f; f=$(printf '%s/%03d-%s.txt' "$OUT" "$n" "$1"); shift
  { echo "\$ cwrepro $*"
    "$BIN" "$@" >"$T/out" 2>"$T/err"; echo "exit $?"
    echo "--- stdout"; mask <"$T/out"; echo "--- stderr"; mask <"$T/err"; } >"$f"
}
# The README tour.
run record record examples/mlp-digits.json -o $T/run.cwr
run replay replay $T/run.cwr
run replay-lr replay $T/run.cwr --until-diverge --set optimizer.lr=0.05
run replay-seed replay $T/run.cwr --until-diverge --set seed=7
run show show $T/run.cwr
run train train examples/mlp-digits.json
run explain-cnn explain examples/crossedwires-cnn-pytorch.json examples/crossedwires-cnn-keras.json
run verify verify examples/mlp-digits.json --golden examples/mlp-digits.hashes
run verify-fail verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --set optimizer.momentum=0.8
# The golden, byte for byte.
run hashes hashes $T/run.cwr --tensors
# The committed golden was written on Haswell kernels before records held data fingerprints.
OPENBLAS_CORETYPE=Haswell "$BIN" record examples/mlp-digits.json -o $T/haswell.cwr >/dev/null 2>&1
"$BIN" hashes $T/haswell.cwr --tensors | grep -v '^env data\.' >$T/golden.hashes
n=$((n + 1)); { if cmp -s $T/golden.hashes examples/mlp-digits.hashes; then echo "golden identical"; else echo "golden DIFFERS"; diff $T/golden.hashes examples/mlp-digits.hashes | head; fi; } >"$OUT/$(printf %03d $n)-golden.txt"
# Every report in every form.
run replay-json replay $T/run.cwr --until-diverge --set optimizer.lr=0.05 --json
run replay-md replay $T/run.cwr --set optimizer.lr=0.05 --md
run replay-nopatch replay $T/run.cwr --no-patch
run replay-threads replay $T/run.cwr --set determinism.threads=2
run replay-gemm replay $T/run.cwr --until-diverge --set determinism.gemm=reference
run replay-order replay $T/run.cwr --until-diverge --set data.shuffleSeed=9
run replay-batch replay $T/run.cwr --until-diverge --set data.batchSize=16
run show-json show $T/run.cwr --json
run show-layers show $T/run.cwr --layers
run show-layers-json show $T/run.cwr --layers --json
run show-all show $T/run.cwr --all-steps
run hashes-plain hashes $T/run.cwr
run verify-json verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --set optimizer.momentum=0.8 --json
run verify-md verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --set optimizer.momentum=0.8 --md
run verify-md-pass verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --md --steps 5
run verify-junit verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --set optimizer.lr=0.2 --junit $T/junit.xml
n=$((n + 1)); mask <$T/junit.xml >"$OUT/$(printf %03d $n)-junit.xml"
run verify-cwr verify examples/mlp-digits.json --golden $T/run.cwr --set training.epochs=1
GITHUB_ACTIONS=true run verify-gha verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --set seed=3
GITHUB_ACTIONS=true run verify-gha-md verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --set seed=3 --md
"$BIN" record examples/mlp-digits.json -o $T/lr.cwr --set optimizer.lr=0.05 >/dev/null 2>&1
"$BIN" record examples/mlp-digits.json -o $T/act.cwr --level activations --set seed=5 >/dev/null 2>&1
"$BIN" record examples/mlp-digits.json -o $T/same.cwr >/dev/null 2>&1
run diff diff $T/run.cwr $T/lr.cwr
run diff-same diff $T/run.cwr $T/same.cwr
run diff-md diff $T/run.cwr $T/lr.cwr --md
run diff-json diff $T/run.cwr $T/lr.cwr --json
run diff-all diff $T/run.cwr $T/act.cwr --all
run diff-all-md diff $T/run.cwr $T/act.cwr --all --md
run explain-json explain examples/crossedwires-cnn-pytorch.json examples/crossedwires-cnn-keras.json --json --jobs 1
run explain-md explain examples/mlp-digits.json --profiles pytorch,keras --md
run explain-profiles explain examples/mlp-digits.json --profiles pytorch,keras --record $T/a.cwr --level grads
run explain-same explain examples/mlp-digits.json examples/mlp-digits.json
run replay-explain-a replay $T/a.cwr
run variance variance examples/mlp-digits.json --runs 3 --vary seed --jobs 2
run variance-order variance examples/mlp-digits.json --runs 2 --vary order --md
run variance-none variance examples/mlp-digits.json --runs 2 --vary none --json
run semantics semantics
run semantics-v semantics --verbose
run semantics-md semantics --md --verbose
run semantics-json semantics --json
run env-noprobe env --no-probe
run env-probe env --sizes 64
run env-json env --sizes 64 --json
run record-ckpt record examples/checkpointed-digits.json -o $T/ckpt.cwr
run resume-done record --resume $T/ckpt.cwr
run record-parallel record examples/mlp-parallel.json -o $T/par.cwr
run replay-parallel replay $T/par.cwr
run record-export record examples/mlp-digits.json -o $T/exp.cwr --export $T/w.safetensors --level params
run train-export train examples/mlp-digits.json --export $T/w2.safetensors
n=$((n + 1)); { cmp $T/w.safetensors $T/w2.safetensors && echo "exports identical"; } >"$OUT/$(printf %03d $n)-exports.txt" 2>&1
run nonfinite record examples/mlp-digits.json -o $T/nan.cwr --set optimizer.lr=1e30
run nonfinite-show show $T/nan.cwr
run nonfinite-allow train examples/mlp-digits.json --set optimizer.lr=1e30 --allow-nonfinite
# Bad input and unreadable records.
run bad-missing record /nonexistent.json -o $T/x.cwr
run bad-exists record examples/mlp-digits.json -o $T/run.cwr
run bad-set record examples/mlp-digits.json -o $T/x.cwr --set optimizer
run bad-set-path replay $T/run.cwr --set model.layers.9.units=3
run bad-key train examples/mlp-digits.json --set optimizer.lrr=0.1
run bad-opt train examples/mlp-digits.json --set optimizer.type=adamw
run bad-gemm train examples/mlp-digits.json --set determinism.gemm=mkl
run bad-knob train examples/mlp-digits.json --set overrides.adam.epsilonMod=hat
run bad-knob-value train examples/mlp-digits.json --set overrides.adam.epsilonMode=hats
run bad-layer train examples/mlp-digits.json --set model.layers.1.type=dens
run replay-config replay examples/mlp-digits.json
run replay-missing replay $T/missing.cwr
run verify-nogolden verify examples/mlp-digits.json --golden $T/none.hashes
run verify-steps verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --steps 500
run verify-both verify examples/mlp-digits.json --golden examples/mlp-digits.hashes --json --md
run resume-usage record examples/mlp-digits.json --resume $T/run.cwr
run explain-usage explain examples/mlp-digits.json
run explain-profile-bad explain examples/mlp-digits.json --profiles pytorch,jax
run variance-bad variance examples/mlp-digits.json --vary order --runs 0
run diff-tol diff $T/run.cwr $T/lr.cwr --loss-tolerance nan
run hashes-out hashes $T/run.cwr -o /nonexistent-dir/x.hashes
run export-dir train examples/mlp-digits.json --export /tmp
run unknown-cmd reply $T/run.cwr
echo "$n outputs in $OUT"
