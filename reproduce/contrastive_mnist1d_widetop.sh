#!/usr/bin/env bash
# reproduce/contrastive_mnist1d_skip.sh's configuration with a wider top stage: three Conv1d
# stages of 128, 128 and 256 channels (kernel 5, stride 1), each stage predicting
# k = s+1 ..= s+3 positions ahead with s = 4, 8, 12. The screening run that chose it is
# str111-e20-s4812-w128-128-256 in reproduce/contrastive_mnist1d_screening.sh. GIM (with the
# untrained encoder probed as well, the control for what the width alone gives) and
# end-to-end CPC with the same flags; Adam lr 1e-3, batch 64, 16 negatives, 20 epochs, on
# the generated standard split (4000/1000), the probe after the last epoch only.
# Seeds as given (default "0 1 2"); writes book/src/results/gim-mnist1d-widetop/ALGO-seedS/
# and the table book/src/results/gim-mnist1d-widetop/table.md. Runs whose results.json
# exists are kept. About 5 minutes per run on one core.
#   reproduce/contrastive_mnist1d_widetop.sh [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-0 1 2}
res=book/src/results/gim-mnist1d-widetop
if [ -z "${LOCUS_BIN:-}" ]; then cargo build --release -q -p locus-cli; fi
locus=${LOCUS_BIN:-target/release/locus}
common=(--dataset mnist1d --epochs 20 --optimizer adam --lr 1e-3 --batch-size 64
        --prediction-steps 3 --negatives 16 --enc-widths 128,128,256 --seq-strides 1,1,1
        --prediction-skip 4,8,12 --probe-every 0)
train() {  # train DIR ARGS...
  local dir=$1; shift
  if [ -f "$dir/results.json" ]; then echo "kept $dir"; return 0; fi
  echo "== $dir"
  "$locus" train "${common[@]}" "$@" --out "$dir"
}
for seed in $seeds; do
  train $res/gim-seed$seed --algo gim --probe-init --seed "$seed"
  train $res/cpc-seed$seed --algo cpc --seed "$seed"
done
python3 - "$res" $seeds > $res/table.md <<'PY'
import json, os, sys

res, seeds = sys.argv[1], sys.argv[2:]


def probes(algo, seed, key="probe_accuracy"):
    with open(os.path.join(res, f"{algo}-seed{seed}", "results.json")) as f:
        run = json.load(f)
    return [s[key] for s in run["stages"] if key in s]


def row(label, values):
    return f"| {label} | " + " | ".join(f"{100 * v:.1f}" for v in values) + " |"


print("Linear-probe test accuracy (%) per encoder stage (128, 128 and 256 channels), features averaged over positions.\n")
print("| encoder, seed | stage 1 | stage 2 | stage 3 |")
print("|---|---|---|---|")
means = {}
for key, algo, label in [("probe_accuracy_init", "gim", "random init"),
                         ("probe_accuracy", "gim", "**gim**"),
                         ("probe_accuracy", "cpc", "**cpc**")]:
    runs = [probes(algo, s, key) for s in seeds]
    for s, values in zip(seeds, runs):
        print(row(f"{label}, seed {s}", values))
    means[label] = [sum(v) / len(v) for v in zip(*runs)]
    if len(seeds) > 1:
        print(row(f"{label}, mean", means[label]))
if os.path.exists(os.path.join(res, "bp-encoder-seed0", "results.json")):
    print(row("bp-encoder (supervised), seed 0", probes("bp-encoder", 0)))
gim, init, cpc = means["**gim**"], means["random init"], means["**cpc**"]
print()
print(f"- means over seeds {', '.join(seeds)}")
print(f"- each GIM stage above the one below: "
      f"{'yes' if all(b > a for a, b in zip(gim, gim[1:])) else 'no'}")
print(f"- top stage, GIM − CPC: {100 * (gim[-1] - cpc[-1]):+.1f} points")
print(f"- top stage, GIM − random init: {100 * (gim[-1] - init[-1]):+.1f} points, "
      f"CPC − random init: {100 * (cpc[-1] - init[-1]):+.1f} points")
PY
cat $res/table.md
