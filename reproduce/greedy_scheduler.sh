#!/usr/bin/env bash
# The greedy layer-wise scheduler against lockstep (issue 7): decoupled greedy learning
# (local classifier heads, Belilovsky et al. 2019/2020) on MNIST with the network and
# optimizer of reproduce/local_classifiers.sh — a 784-1000-1000-1000-10 ReLU MLP, one stage
# per layer (4 stages), linear softmax heads on the hidden stages, SGD momentum 0.9, lr 0.05
# cosine, batch 64, seed 0 — and the same total budget of EPOCHS epochs (default 12):
#   lockstep  every stage learns on every batch for all EPOCHS epochs (DGL);
#   greedy    one stage at a time, EPOCHS/4 epochs each, bottom first, on the frozen
#             stages below (sequential greedy learning); the cosine schedule restarts for
#             each stage's turn.
# Writes results.json, epochs.csv and the PNG curves per run under
# book/src/results/schedulers/greedy-dgl-{lockstep,greedy}/, one comparison chart, and
# machine.txt (cores, load average before and after).
# About 15 minutes of CPU at the default budget (lockstep 10, greedy 5).
#   [EPOCHS=12] reproduce/greedy_scheduler.sh [DATA_DIR]
#     (default: $LOCUS_DATA or ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
epochs=${EPOCHS:-12}
out=book/src/results/schedulers
mkdir -p "$out"
cargo build --release -q -p locus-cli
locus=${LOCUS_BIN:-target/release/locus}

{ echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"; rustc --version
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$out/machine-greedy.txt"

common=(--algo dgl --head linear --dataset mnist --data-dir "$data/mnist"
        --hidden 1000,1000,1000 --activation relu --optimizer sgd --lr 0.05 --momentum 0.9
        --lr-schedule cosine --batch-size 64 --epochs "$epochs" --seed 0)
$locus train "${common[@]}" --scheduler lockstep --out "$out/greedy-dgl-lockstep"
$locus train "${common[@]}" --scheduler greedy --out "$out/greedy-dgl-greedy"
$locus plot "$out"/greedy-dgl-{lockstep,greedy}/results.json \
  --labels "dgl lockstep,dgl greedy ($((epochs / 4)) epochs per stage)" \
  --out "$out/greedy-dgl-test-accuracy.png" \
  --title "MNIST, 784-1000x3-10, dgl, $epochs epochs: lockstep vs greedy layer-wise"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine-greedy.txt"

# Test error and each stage's probe accuracy (its own head's test accuracy; the top's is
# the network's), busy fraction and final loss.
python3 - "$out" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
for name in ["greedy-dgl-lockstep", "greedy-dgl-greedy"]:
    j = json.loads((root / name / "results.json").read_text())
    stages = j["stages"]
    print(f"{name}: test error {100 * (1 - j['test_accuracy']):.2f}%, "
          f"train {sum(h['train_s'] for h in j['history']):.0f} s; probe accuracy "
          + " / ".join(f"{100 * s['probe_accuracy']:.2f}" for s in stages)
          + "; busy fraction (last epoch) "
          + " / ".join(f"{s['busy_fraction']:.2f}" for s in stages))
PY
