#!/usr/bin/env bash
# Wall time of `train`, `record --level grads` and `replay` on the issue-17 table configurations,
# the three (and, with BASE=<another cwrepro binary>, the same three of that binary) run in turn
# round after round, so that a change of load on a shared machine hits all of them alike.
# Prints, per command, the median over ROUNDS rounds of its CPU seconds (user + sys: what the
# process computed, the figure that survives a loaded machine; at 2 threads it also counts
# OpenBLAS's and the engine pool's spinning workers) and of its wall seconds, record/train and
# replay/record ratios of the CPU medians and of the wall medians, the same two ratios paired (the
# median of each round's own wall ratios: load that changes between rounds cancels out) with a 90%
# bootstrap interval of each paired median, and (with BASE) new/base of the CPU medians.  Whole
# processes: startup, data loading and the final evaluation are included, the same in each.  Not
# part of `make test`.
#
# usage: scripts/bench/run.sh [threads...]          (default: 1 2)
#   ROUNDS=5  STEPS (default per model: mlp 200, cnn 100, resnet 20)  BIN=.build/release/cwrepro  BASE=  CONFIGS="mlp cnn resnet"
#   LONG=1: also record the 27,000-step digits run once (and replay it) and time `show` and `diff` on it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
BIN=${BIN:-.build/release/cwrepro}
BASE=${BASE:-}
CONFIGS=${CONFIGS:-"mlp cnn resnet"}
THREADS=("$@"); [ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2)
[ -x "$BIN" ] || { echo "no $BIN: build it with swift build -c release --product cwrepro" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

config_of() {
  case $1 in
    # MLP 784-512-512-10, batch 128; MNIST CNN (2 conv + 2 dense), batch 64: 200 test samples
    # (the rest train) so that the final evaluation is a small part of the time.
    mlp) echo "scripts/bench/mlp-512.json --set data.source.trainCount=9800" ;;
    cnn) echo "scripts/bench/cnn-mnist.json --set data.source.trainCount=9800" ;;
    # ResNet-20, CIFAR shape, batch 64 (synthetic data, 64 test samples).
    resnet) echo "scripts/bench/resnet20-synthetic.json" ;;
    *) echo "unknown config $1" >&2; exit 2 ;;
  esac
}

steps_of() { case $1 in mlp) echo 200 ;; cnn) echo 100 ;; *) echo 20 ;; esac; }

# seconds <command...>: runs it (output discarded) and prints "cpu wall" in seconds, to the
# microsecond (GNU time's 10 ms steps are 1% of a CNN run: as large as the differences measured).
seconds() {
  python3 - "$@" <<'PY' || { echo "failed: $*" >&2; exit 1; }
import os, subprocess, sys, time
t = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
wall = time.monotonic() - t
if status != 0: sys.exit(1)
print(f"{usage.ru_utime + usage.ru_stime:.4f} {wall:.4f}")
PY
}

# spread <a> <b>: a 90% bootstrap interval ("lo-hi") of the median of b's wall over a's, round by
# round (2,000 resamples of the rounds, seeded): how far the paired median could move with other
# rounds on this machine. An interval that holds 1.03 has not shown recording within 3%.
spread() {
  python3 - "$1" "$2" <<'PY'
import random, statistics, sys
a = [float(l.split()[1]) for l in open(sys.argv[1])]
b = [float(l.split()[1]) for l in open(sys.argv[2])]
r = [y / x for x, y in zip(a, b)]
rng = random.Random(17)
m = sorted(statistics.median(rng.choices(r, k=len(r))) for _ in range(2000))
print(f"{m[100]:.3f}-{m[1899]:.3f}")
PY
}

# median [column]: the median of a column (1: cpu, 2: wall) of "cpu wall" lines.
median() { awk -v c="${1:-1}" '{print $c}' | sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-7s %3s %5s | %-5s %-17s %-17s %-17s | %-15s %-15s | %-13s | %s' model thr steps bin "train cpu/wall s" "grads cpu/wall s" "replay cpu/wall s" "rec/tr cpu/wall" "rep/rec cpu/wall" "paired wall" "90% interval rec/tr rep/rec"
[ -n "$BASE" ] && printf ' | %s' "new/base cpu: train grads replay"
printf '\n'
for c in $CONFIGS; do
  read -r -a cfg <<<"$(config_of "$c")"
  steps=${STEPS:-$(steps_of "$c")}
  for th in "${THREADS[@]}"; do
    args=("${cfg[@]}" --set "training.maxSteps=$steps" --set "training.epochs=100" --set "determinism.threads=$th")
    bins=("$BIN"); [ -n "$BASE" ] && bins+=("$BASE")
    for r in $(seq "$ROUNDS"); do
      for i in "${!bins[@]}"; do
        b=${bins[$i]}
        seconds "$b" train "${args[@]}" >>"$tmp/$c-$th-$i-train"
        seconds "$b" record "${args[@]}" --level grads -o "$tmp/r$i.cwr" --force >>"$tmp/$c-$th-$i-grads"
        seconds "$b" replay "$tmp/r$i.cwr" >>"$tmp/$c-$th-$i-replay"
      done
    done
    for i in "${!bins[@]}"; do
      f="$tmp/$c-$th-$i"
      tr=$(median 1 <"$f-train"); gr=$(median 1 <"$f-grads"); rp=$(median 1 <"$f-replay")
      trw=$(median 2 <"$f-train"); grw=$(median 2 <"$f-grads"); rpw=$(median 2 <"$f-replay")
      [ "$i" = 0 ] && { new_tr=$tr; new_gr=$gr; new_rp=$rp; }
      # Paired: the median over rounds of each round's own record/train and replay/record wall
      # ratios (the three ran back to back, so a change of load between rounds cancels out).
      prg=$(paste "$f-train" "$f-grads" | awk '{print $4 / $2}' | median 1)
      ppr=$(paste "$f-grads" "$f-replay" | awk '{print $4 / $2}' | median 1)
      ci=$(spread "$f-train" "$f-grads"); ci2=$(spread "$f-grads" "$f-replay")
      printf '%-7s %3s %5s | %-5s %7.3f / %7.3f %7.3f / %7.3f %7.3f / %7.3f | %6.3f / %6.3f %6.3f / %6.3f | %6.3f %6.3f | %s %s' "$c" "$th" "$steps" \
        "$([ "$i" = 0 ] && echo new || echo base)" "$tr" "$trw" "$gr" "$grw" "$rp" "$rpw" \
        "$(echo "$gr / $tr" | bc -l)" "$(echo "$grw / $trw" | bc -l)" "$(echo "$rp / $gr" | bc -l)" "$(echo "$rpw / $grw" | bc -l)" "$prg" "$ppr" "$ci" "$ci2"
      [ "$i" = 1 ] && printf ' | %.3f %.3f %.3f' "$(echo "$new_tr / $tr" | bc -l)" "$(echo "$new_gr / $gr" | bc -l)" "$(echo "$new_rp / $rp" | bc -l)"
      printf '\n'
    done
  done
done

if [ "${LONG:-0}" = 1 ]; then
  # The issue's long run: the digits MLP (batch 32, 45 steps per epoch), 600 epochs = 27,000 steps.
  long=("examples/mlp-digits.json" --set training.epochs=600)
  echo "long record (27,000 steps of the digits MLP):"
  printf '  record cpu/wall %s s\n' "$(seconds "$BIN" record "${long[@]}" -o "$tmp/long.cwr" --force)"
  cp "$tmp/long.cwr" "$tmp/long2.cwr"
  printf '  replay cpu/wall %s s\n' "$(seconds "$BIN" replay "$tmp/long.cwr")"
  for r in $(seq "$ROUNDS"); do
    seconds "$BIN" show "$tmp/long.cwr" >>"$tmp/show"
    seconds "$BIN" diff "$tmp/long.cwr" "$tmp/long2.cwr" >>"$tmp/diff"
  done
  printf '  show   cpu/wall %.3f / %.3f s (medians of %d)\n' "$(median 1 <"$tmp/show")" "$(median 2 <"$tmp/show")" "$ROUNDS"
  printf '  diff   cpu/wall %.3f / %.3f s (medians of %d)\n' "$(median 1 <"$tmp/diff")" "$(median 2 <"$tmp/diff")" "$ROUNDS"
fi
