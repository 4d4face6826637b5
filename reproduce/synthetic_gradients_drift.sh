#!/usr/bin/env bash
# How a stage's optimizer turns a weak synthetic gradient into drift: DNI on a small MNIST
# budget (the first 10,000 training images, 3 epochs, the full test set), 784-256-256-256-10
# ReLU with --layer-norm, every layer its own stage, batch 64, seeds 0/1/2. A gradient model
# whose learning rate is 1e-9 stays near zero, so its stage should barely move: under SGD
# (momentum 0.9) the network is then a trained read-out on nearly fixed random features;
# Adam divides each step by the gradient's own running magnitude, so the same tiny, biased
# prediction moves every weight a full step each batch. Also: Adam with a larger ε, SGD
# instead of Adam with the trained gradient model, a gradient model with a hidden layer,
# the paper's two-layer normalised gradient model (--sg-model norm-mlp) under the same
# optimizers, and bp as the reference. Writes one directory per run and drift.md into
# book/src/results/dni-mnist-drift/. About 3 minutes on one core.
#   reproduce/synthetic_gradients_drift.sh [DATA_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results/dni-mnist-drift
mkdir -p "$out"
cargo build --release -q -p locus-cli || exit 1
locus=$(mktemp -d)/locus
cp target/release/locus "$locus"
# shellcheck source=reproduce/legacy_synthetic_gradient.sh
source reproduce/legacy_synthetic_gradient.sh
legacy_sg_bin=$locus; locus=legacy_sg_locus
export MATMUL_NUM_THREADS=${MATMUL_NUM_THREADS:-1}
run() {  # run NAME ARGS...
  local name=$1; shift
  for seed in 0 1 2; do
    local dir="$out/$name/seed$seed"
    rm -rf "$dir"; mkdir -p "$dir"
    echo "$*" > "$out/$name/args.txt"
    "$locus" train --dataset mnist --data-dir "$data/mnist" --train-limit 10000 --epochs 3 \
      --hidden 256,256,256 --layer-norm --batch-size 64 --seed "$seed" "$@" \
      --out "$dir" > /dev/null 2> "$dir/stderr.txt" || grep -a "^error" "$dir/stderr.txt" > "$dir/failed.txt"
    rm -f "$dir/stderr.txt"
  done
}
run bp-adam --algo bp --optimizer adam --lr 0.0003
run dni-adam --algo dni --optimizer adam --lr 0.0003
run dni-adam-eps1e-4 --algo dni --optimizer adam --lr 0.0003 --adam-eps 1e-4
run dni-adam-Mlr1e-9 --algo dni --optimizer adam --lr 0.0003 --sg-lr 1e-9
run dni-sgd-Mlr1e-9 --algo dni --optimizer sgd --lr 0.01 --momentum 0.9 --sg-lr 1e-9
run dni-sgd --algo dni --optimizer sgd --lr 0.001 --momentum 0.9
run dni-adam-mlpM --algo dni --optimizer adam --lr 0.0003 --sg-model mlp --sg-hidden 256
# The paper's gradient model (two normalised hidden layers) under Adam, damped Adam, SGD,
# and a slower M.
nm=(--sg-model norm-mlp --sg-hidden 256 --sg-layers 2)
run dni-adam-normM --algo dni --optimizer adam --lr 0.0003 "${nm[@]}"
run dni-adam-eps1e-4-normM --algo dni --optimizer adam --lr 0.0003 --adam-eps 1e-4 "${nm[@]}"
run dni-sgd-normM --algo dni --optimizer sgd --lr 0.001 --momentum 0.9 "${nm[@]}"
run dni-adam-Mlr1e-4-normM --algo dni --optimizer adam --lr 0.0003 --sg-lr 1e-4 "${nm[@]}"
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = ["| run | arguments | test accuracy, seeds 0 / 1 / 2 | mean |", "|---|---|---|---|"]
for d in sorted(p for p in out.iterdir() if p.is_dir()):
    accs = []
    for s in range(3):
        r = d / f"seed{s}" / "results.json"
        accs.append(json.loads(r.read_text())["test_accuracy"] if r.exists() else float("nan"))
    cells = " / ".join(f"{100 * a:.1f}" for a in accs)
    rows.append(f"| {d.name} | `{(d / 'args.txt').read_text().strip()}` | {cells} | {100 * sum(accs) / 3:.1f}% |")
(out / "drift.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
