#!/usr/bin/env python3
"""Formats the bench-vs-torch results (one `cwrepro-json<TAB>torch-json` line per model) as a Markdown table."""
import json, sys

print("| model | batch | threads | gemm | reduction | cwrepro ms/step | torch ms/step | ratio | cwrepro CPU ms | torch CPU ms | CPU ratio | record@grads ms/step | record overhead | record overhead (CPU) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
core = None
for line in sys.stdin:
    if not line.strip():
        continue
    ours, torch = (json.loads(p) for p in line.rstrip("\n").split("\t"))
    core = ours["core"]
    print(f"| {ours['name']} | {ours['batch']} | {ours['threads']} | {ours.get('gemm', 'openblas')} | {ours.get('reduction', 'sequential')} | {ours['plainMs']:.2f} | {torch['ms']:.2f} "
          f"| {ours['plainMs'] / torch['ms']:.2f}x | {ours['plainCpuMs']:.2f} | {torch['cpuMs']:.2f} | {ours['plainCpuMs'] / torch['cpuMs']:.2f}x "
          f"| {ours['recordGradsMs']:.2f} | {(ours['recordGradsMs'] / ours['plainMs'] - 1) * 100:+.1f}% "
          f"| {(ours['recordGradsCpuMs'] / ours['plainCpuMs'] - 1) * 100:+.1f}% |")
print(f"\nOpenBLAS core {core}; torch {torch['torch']} (mkldnn {torch['mkldnn']}); cwrepro: medians over blocks of 5 consecutive steps (a recording block ends when its rows are committed); torch: median of the timed steps. "
      "CPU ms = process CPU time per step (all threads), steadier than wall time when other work shares the cores.")
