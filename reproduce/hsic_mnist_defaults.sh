#!/usr/bin/env bash
# The HSIC bottleneck on MNIST at `locus train`'s default budget (10 epochs of the hidden
# stages, then hsic's 5 of the read-out alone) beside bp on the same network and 10 epochs,
# seeds 0 and 1; and, seed 0, hsic at the constant rate it had by default before the cosine
# schedule, alone and with the kernel bandwidth σ 10 instead of 5. One matrix thread
# (MATMUL_NUM_THREADS=1) so reruns end on the same digits. Writes book/src/results/hsic/mnist-defaults/NAME/ and table.md there.
# Runs whose results.json exists are kept. About 2.5 minutes per hsic run on a quiet core.
#   reproduce/hsic_mnist_defaults.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
res=book/src/results/hsic/mnist-defaults
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary)
export MATMUL_NUM_THREADS=1
common=(--dataset mnist --data-dir "$data/mnist" --quiet)
train() { train_once "$res/$1" "${@:2}"; }  # train NAME ARGS...
for seed in 0 1; do
  train "bp-seed$seed" --algo bp --seed "$seed"
  train "hsic-seed$seed" --algo hsic --seed "$seed"
done
train hsic-constant-seed0 --algo hsic --seed 0 --lr-schedule constant
train hsic-constant-sigma10-seed0 --algo hsic --seed 0 --lr-schedule constant --hsic-sigma 10
python3 - "$res" > "$res/table.md" <<'PY'
import json, os, sys

res = sys.argv[1]
print("MNIST, 784-1000-1000-10: test error (%) after the last epoch, and for hsic")
print("the best and worst of its five read-out epochs.\n")
print("| run | flags beside `--algo` | test error | read-out epochs: best / worst |")
print("|---|---|---|---|")
for name in ["bp-seed0", "bp-seed1", "hsic-seed0", "hsic-seed1", "hsic-constant-seed0",
             "hsic-constant-sigma10-seed0"]:
    path = os.path.join(res, name, "results.json")
    if not os.path.exists(path):
        continue
    with open(path) as f:
        r = json.load(f)
    with open(os.path.join(res, name, "args.txt")) as f:
        flags = " ".join(f.read().split()[2:])
    err = 100 * (1 - r["test_accuracy"])
    readout = [100 * (1 - h["test_accuracy"]) for h in r["history"][r["epochs"]:]]
    spread = f"{min(readout):.2f} / {max(readout):.2f}" if readout else "—"
    print(f"| {name} | `{flags}` | {err:.2f} | {spread} |")
PY
cat "$res/table.md"
