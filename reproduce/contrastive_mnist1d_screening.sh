#!/usr/bin/env bash
# The screening runs behind reproduce/contrastive_mnist1d_skip.sh's configuration: GIM
# (and a few CPC and supervised runs) on MNIST-1D, seed 0, Adam 1e-3, batch 64, the probe
# after the last epoch only, each varying one thing: the number of negatives, K, where
# negatives come from, --prediction-skip, encoder width and strides; the last six (the
# search for a third stage above the second) the scheduler (--scheduler greedy, 10
# epochs per stage), the learning-rate schedule, same-sample negatives, 40 epochs and a
# wider top stage (128,128,256; and 128,256,256, the control at equal width). Writes
# book/src/results/gim-mnist1d-skip/screening/NAME/ and the table screening.md there.
# Runs whose results.json exists are kept. About 2 hours on one core.
#   reproduce/contrastive_mnist1d_screening.sh
set -euo pipefail
cd "$(dirname "$0")/.."
res=book/src/results/gim-mnist1d-skip/screening
if [ -z "${LOCUS_BIN:-}" ]; then cargo build --release -q -p locus-cli; fi
locus=${LOCUS_BIN:-target/release/locus}
# shellcheck source=reproduce/legacy_sequence_encoder.sh
source reproduce/legacy_sequence_encoder.sh
w128=(--enc-widths 128,128,128)
flat=(--enc-widths 128,128,128 --seq-strides 1,1,1)
# name | epochs | arguments
runs=(
  "base|10|--algo gim"
  "neg128|10|--algo gim --negatives 128"
  "k8|10|--algo gim --prediction-steps 8"
  "other|10|--algo gim --negative-sampling other-samples"
  "other-neg128|10|--algo gim --negative-sampling other-samples --negatives 128"
  "wide256|10|--algo gim --enc-widths 256,256,256"
  "skip2|10|--algo gim --prediction-skip 2"
  "skip4|10|--algo gim --prediction-skip 4"
  "skip4-cpc|10|--algo cpc --prediction-skip 4"
  "skip4-4-8|10|--algo gim --prediction-skip 4,4,8"
  "s448-e20|20|--algo gim --prediction-skip 4,4,8"
  "s448-other|10|--algo gim --prediction-skip 4,4,8 --negative-sampling other-samples"
  "s448-cpc|10|--algo cpc --prediction-skip 4,4,8"
  "s444-str122|10|--algo gim --prediction-skip 4,4,4 --seq-strides 1,2,2"
  "s6610|10|--algo gim --prediction-skip 6,6,10"
  "w128-s448|10|--algo gim --prediction-skip 4,4,8 ${w128[*]} --probe-init"
  "w128-s446|10|--algo gim --prediction-skip 4,4,6 ${w128[*]}"
  "w128-s448-cpc|10|--algo cpc --prediction-skip 4,4,8 ${w128[*]}"
  "w128-s448-bp|10|--algo bp-encoder ${w128[*]}"
  "w256-s448|10|--algo gim --prediction-skip 4,4,8 --enc-widths 256,256,256 --probe-init"
  "w128-str111-s4812|10|--algo gim --prediction-skip 4,8,12 ${flat[*]} --probe-init"
  "w128-str111-s4812-k6|10|--algo gim --prediction-skip 4,8,12 ${flat[*]} --prediction-steps 6"
  "w128-str111-s4812-cpc|10|--algo cpc --prediction-skip 4,8,12 ${flat[*]}"
  "w128-str111-s4812-e20|20|--algo gim --prediction-skip 4,8,12 ${flat[*]}"
  "str111-e20-s488|20|--algo gim --prediction-skip 4,8,8 ${flat[*]}"
  "str111-e20-s4810|20|--algo gim --prediction-skip 4,8,10 ${flat[*]}"
  "str111-e20-s4814|20|--algo gim --prediction-skip 4,8,14 ${flat[*]}"
  "str111-e20-s4816|20|--algo gim --prediction-skip 4,8,16 ${flat[*]}"
  "str111-s4812-greedy30|30|--algo gim --prediction-skip 4,8,12 ${flat[*]} --scheduler greedy"
  "str111-e20-s4812-cosine|20|--algo gim --prediction-skip 4,8,12 ${flat[*]} --lr-schedule cosine"
  "str111-e20-s4812-same|20|--algo gim --prediction-skip 4,8,12 ${flat[*]} --negative-sampling same-sample"
  "str111-e20-s4812-w128-128-256|20|--algo gim --prediction-skip 4,8,12 --enc-widths 128,128,256 --seq-strides 1,1,1 --probe-init"
  "str111-e40-s4812|40|--algo gim --prediction-skip 4,8,12 ${flat[*]}"
  "str111-e20-s4812-w128-256-256|20|--algo gim --prediction-skip 4,8,12 --enc-widths 128,256,256 --seq-strides 1,1,1 --probe-init"
)
for run in "${runs[@]}"; do
  IFS='|' read -r name epochs args <<< "$run"
  dir=$res/$name
  if [ -f "$dir/results.json" ]; then continue; fi
  echo "== $name"
  # shellcheck disable=SC2086 # the arguments are words
  mapfile -t pinned < <(legacy_sequence_encoder $args)
  # shellcheck disable=SC2086
  "$locus" train --dataset mnist1d --optimizer adam --lr 1e-3 --batch-size 64 --seed 0 \
    --probe-every 0 --epochs "$epochs" $args "${pinned[@]}" --out "$dir" > /dev/null
done
list=$(mktemp)
printf '%s\n' "${runs[@]}" > "$list"
python3 - "$res" "$list" > "$res/screening.md" <<'PY'
import json, os, sys

res, runs = sys.argv[1], sys.argv[2]
print("MNIST-1D, seed 0: linear-probe test accuracy (%) per encoder stage after the last")
print("epoch; the untrained encoder's where the run has --probe-init.\n")
print("| run | epochs | arguments | stage 1 | stage 2 | stage 3 | untrained |")
print("|---|---|---|---|---|---|---|")
for line in open(runs):
    name, epochs, args = line.rstrip("\n").split("|")
    with open(os.path.join(res, name, "results.json")) as f:
        stages = [s for s in json.load(f)["stages"] if "probe_accuracy" in s]
    acc = " | ".join(f"{100 * s['probe_accuracy']:.1f}" for s in stages)
    init = ", ".join(f"{100 * s['probe_accuracy_init']:.1f}" for s in stages if "probe_accuracy_init" in s)
    print(f"| {name} | {epochs} | `{args}` | {acc} | {init or '—'} |")
PY
cat "$res/screening.md"
