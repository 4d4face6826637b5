#!/usr/bin/env bash
# gim, cpc and bp-encoder on MNIST-1D with their defaults (no tuning flags), five epochs of
# seed 1 as the CLI contract runs them, and gim with the defaults used before 2026-12-06
# (SGD 0.05, 64-channel encoder with strides 1, 2, 1, no skipped offsets), whose upper
# stages collapsed. Writes book/src/results/gim-mnist1d-defaults/NAME/ and table.md there.
# Runs whose results.json exists are kept. About 4 minutes on one core.
#   reproduce/contrastive_defaults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
res=book/src/results/gim-mnist1d-defaults
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary)
common=(--dataset mnist1d --epochs 5 --seed 1)
train() { train_once "$res/$1" "${@:2}"; }  # train NAME ARGS...
for algo in gim cpc bp-encoder; do train "$algo" --algo "$algo"; done
train gim-old-defaults --algo gim --optimizer sgd --enc-widths 64,64,64 --seq-strides 1,2,1 \
  --prediction-skip 0
python3 - "$res" > "$res/table.md" <<'PY'
import json, os, sys

res = sys.argv[1]
print("Five epochs of seed 1 on MNIST-1D: linear-probe test accuracy (%) per stage, and the")
print("InfoNCE bound (nats) of each stage that has one.\n")
print("| run | stage probes | InfoNCE bounds | warnings |")
print("|---|---|---|---|")
for name in ["gim", "cpc", "bp-encoder", "gim-old-defaults"]:
    with open(os.path.join(res, name, "results.json")) as f:
        run = json.load(f)
    probes = [s["probe_accuracy"] for s in run["stages"] if "probe_accuracy" in s]
    bounds = [s["infonce_bound"] for s in run["stages"] if "infonce_bound" in s]
    print(f"| {name} | " + " / ".join(f"{100 * p:.1f}" for p in probes)
          + " | " + (" / ".join(f"{b:.2f}" for b in bounds) or "—")
          + f" | {len(run.get('warnings', []))} |")
PY
cat "$res/table.md"
