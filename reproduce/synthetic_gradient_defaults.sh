#!/usr/bin/env bash
# dni and cdni on MNIST with their defaults (no tuning flags), 20 epochs of seed 0: the
# configuration reproduce/synthetic_gradients_batch_norm.sh runs by flags (Adam 3e-4,
# cosine, batch 64, batch normalisation, 784-1000-1000-10; true targets for dni), which
# became the defaults on 2026-12-07. Writes book/src/results/dni-mnist-defaults/NAME/ and
# table.md there, beside the flagged runs' figures. Runs whose results.json exists are
# kept. About 25 minutes on one core.
#   reproduce/synthetic_gradient_defaults.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
res=book/src/results/dni-mnist-defaults
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary)
common=(--dataset mnist --data-dir "$data/mnist" --epochs 20 --seed 0)
train() { train_once "$res/$1" "${@:2}"; }  # train NAME ARGS...
for algo in dni cdni; do train "$algo" --algo "$algo"; done
python3 - "$res" > "$res/table.md" <<'PY'
import json, os, sys

res = sys.argv[1]
flagged = "book/src/results/dni-mnist-batch-norm"
print("MNIST, 20 epochs, seed 0: test error (%) with the defaults, and with the same")
print("configuration given by flags (`dni-mnist-batch-norm/`).\n")
print("| run | defaults | by flags | configuration |")
print("|---|---|---|---|")
for name, other in [("dni", "dni-true-wide-seed0"), ("cdni", "cdni-wide-seed0")]:
    with open(os.path.join(res, name, "results.json")) as f:
        run = json.load(f)
    with open(os.path.join(flagged, other, "results.json")) as f:
        ref = json.load(f)
    c = run["config"]
    what = (f"{c['optimizer']}, {c['lr_schedule']}, batch {c['batch_size']}, "
            f"batch norm {c['network']['batch_norm']}, target {c['synthetic_gradient']['target']}")
    print(f"| {name} | {100 * (1 - run['test_accuracy']):.2f} | "
          f"{100 * (1 - ref['test_accuracy']):.2f} | {what} |")
PY
cat "$res/table.md"
