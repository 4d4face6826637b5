#!/usr/bin/env bash
# Contrastive learning on MNIST-1D with the InfoNCE targets moved past the receptive-field
# overlap (--prediction-skip): the runs of reproduce/contrastive.sh's MNIST-1D section,
# with a sequence encoder of three Conv1d stages of 128 channels, kernel 5, stride 1
# (receptive fields of 5, 9 and 13 samples, one sample apart), each stage predicting
# k = s+1 ..= s+3 positions ahead with s = 4, 8, 12 (the first offsets whose windows do
# not overlap the context's). GIM (with the untrained encoder probed as well), end-to-end
# CPC (the same skip at its one loss, on the top stage) and the supervised encoder; Adam
# lr 1e-3, batch 64, 16 negatives, 20 epochs, on the generated standard split (4000/1000).
# Seeds as given (default "0 1 2"); writes book/src/results/gim-mnist1d-skip/ALGO-seedS/
# (the supervised encoder with seed 0 only) and the table
# book/src/results/gim-mnist1d-skip/table.md. Runs whose results.json
# exists are kept. About 4 minutes per run on one core.
#   [WIDTHS=a,b,c RES=DIR PROBE_EVERY=N BP_ENCODER=0] reproduce/contrastive_mnist1d_skip.sh [SEEDS]
# WIDTHS: the stages' channels (default 128,128,128); RES: the output directory (default
# book/src/results/gim-mnist1d-skip); PROBE_EVERY: passed as --probe-every (default: the
# CLI's); BP_ENCODER=0 leaves out the supervised encoder.
# reproduce/contrastive_mnist1d_widetop.sh runs this with a wider third stage.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-0 1 2}
widths=${WIDTHS:-128,128,128}
res=${RES:-book/src/results/gim-mnist1d-skip}
if [ -z "${LOCUS_BIN:-}" ]; then cargo build --release -q -p locus-cli; fi
locus=${LOCUS_BIN:-target/release/locus}
common=(--dataset mnist1d --epochs 20 --optimizer adam --lr 1e-3 --batch-size 64
        --prediction-steps 3 --negatives 16 --enc-widths "$widths" --seq-strides 1,1,1
        --prediction-skip 4,8,12)
if [ -n "${PROBE_EVERY:-}" ]; then common+=(--probe-every "$PROBE_EVERY"); fi
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
if [ "${BP_ENCODER:-1}" != 0 ]; then
  case " $seeds " in *" 0 "*) train $res/bp-encoder-seed0 --algo bp-encoder --seed 0 ;; esac
fi
python3 - "$res" "$widths" $seeds > $res/table.md <<'PY'
import json, os, sys

res, widths, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]


def probes(algo, seed, key="probe_accuracy"):
    with open(os.path.join(res, f"{algo}-seed{seed}", "results.json")) as f:
        run = json.load(f)
    return [s[key] for s in run["stages"] if key in s]


def row(label, values):
    return f"| {label} | " + " | ".join(f"{100 * v:.1f}" for v in values) + " |"


channels = widths.split(",")
if len(set(channels)) > 1:
    caption = f" ({', '.join(channels[:-1])} and {channels[-1]} channels)"
else:
    caption = ""
print(f"Linear-probe test accuracy (%) per encoder stage{caption}, features averaged over positions.\n")
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
