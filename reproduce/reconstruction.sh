#!/usr/bin/env bash
# Learning by reconstruction on MNIST (issue 6): greedy layer-wise pretraining of a
# 784-1000-1000-10 network, every hidden stage learning alone to reconstruct its input.
#   sae   dense ReLU stages, tied decoder (decoder = Wᵀ), squared error;
#   sarm  sparse-coding stages (3 unrolled ISTA steps, λ = 0.1), closed-form ridge decoder
#         (λ = 1e-3) refit once per epoch: the "approximated regression" of SARM.
# Supervised phases (top, fine-tuning): SGD momentum 0.9, lr 0.05 with cosine decay,
# batch 64, seed 0: the optimizer of the backprop baseline book/src/results/bp-mnist
# (reproduce/backprop.sh, the same network), which is run (d) and is not repeated here.
# Pretraining: the same SGD at lr 0.002 (cosine within each stage's budget). Linear
# probes (Adam 1e-3, 5 epochs, standardised features) on every stage and on the pixels.
#   (a) probes on each greedy stage and (b) greedy + supervised top (20 epochs on the
#   frozen features): recon-sae, recon-sarm;
#   (c) the same + 20 epochs of end-to-end fine-tuning: recon-sae-finetune;
#   subsets: each hidden stage trained on a random 0.5% / 5% of the training set with the
#   same number of updates as on 100% (sae: 2 epochs of 100% = 40 of 5% = 400 of 0.5%;
#   sarm: 1, 20, 200): recon-{sae,sarm}-frac{0.005,0.05}. The top and the probes always
#   use all 60,000 labelled images.
# Budgets were cut to fit two cores shared with five other jobs (sae 2 epochs per stage,
# sarm 1); FIRST_ATTEMPT=1 also reruns the first attempt (5 epochs per stage at
# pretraining lr 0.01), kept in recon-first-attempt/ because its second stage collapsed.
# Every run writes results.json, epochs.csv and plots into book/src/results/recon-*/.
# A run whose results.json exists is skipped (delete it to redo); a run in progress holds
# a NAME.lock directory, so a second copy of this script (REVERSE=1 runs the list
# backwards) shares the work. About 2 hours on 2 shared cores.
#   reproduce/reconstruction.sh [DATA_DIR]      (default: $LOCUS_DATA, else ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results
cargo build --release -q -p locus-cli
locus=${LOCUS_BIN:-target/release/locus}
common=(--dataset mnist --data-dir "$data/mnist" --hidden 1000,1000 --batch-size 64
        --lr 0.05 --lr-schedule cosine --seed 0)
sae=(--algo sae --decoder tied --pretrain-lr 0.002)
sarm=(--algo sarm --decoder ridge --ridge-lambda 0.001 --ridge-refit epoch --pretrain-lr 0.002
      --ista-steps 3 --l1 0.1)

run() {  # run NAME ARGS...
  local name=$1; shift
  if [ -f "$out/$name/results.json" ]; then
    echo "skip $name (results exist)"
    return
  fi
  if ! mkdir "$out/$name.lock" 2>/dev/null; then
    echo "skip $name (running elsewhere: $out/$name.lock)"
    return
  fi
  echo "== $name"
  "$locus" train "$@" --out "$out/$name"
  rmdir "$out/$name.lock"
}

runs=(
  "recon-sae|${sae[*]} --stage-epochs 2 --epochs 20"
  "recon-sae-finetune|${sae[*]} --stage-epochs 2 --finetune --epochs 20"
  "recon-sarm|${sarm[*]} --stage-epochs 1 --epochs 20"
  "recon-sae-frac0.05|${sae[*]} --pretrain-fraction 0.05 --stage-epochs 40 --epochs 20"
  "recon-sae-frac0.005|${sae[*]} --pretrain-fraction 0.005 --stage-epochs 400 --epochs 20"
  "recon-sarm-frac0.05|${sarm[*]} --pretrain-fraction 0.05 --stage-epochs 20 --epochs 20"
  "recon-sarm-frac0.005|${sarm[*]} --pretrain-fraction 0.005 --stage-epochs 200 --epochs 20"
)
if [ "${FIRST_ATTEMPT:-0}" = 1 ]; then
  runs+=("recon-first-attempt/sae-lr0.01-5ep|--algo sae --decoder tied --pretrain-lr 0.01 --stage-epochs 5 --epochs 20")
fi
order=("${!runs[@]}")
if [ "${REVERSE:-0}" = 1 ]; then
  order=($(printf '%s\n' "${order[@]}" | sort -rn))
fi
for i in "${order[@]}"; do
  name=${runs[$i]%%|*}
  read -r -a args <<< "${runs[$i]#*|}"
  run "$name" "${args[@]}" "${common[@]}"
done

if [ -f "$out/recon-sarm/results.json" ] && [ -f "$out/recon-sae-finetune/results.json" ]; then
  "$locus" plot "$out"/{bp-mnist,recon-sae-finetune,recon-sae,recon-sarm}/results.json \
    --labels "backprop,sae + fine-tuning,sae (frozen) + top,sarm (frozen) + top" \
    --out "$out/recon-test-accuracy.png" --title "MNIST 784-1000-1000-10: test accuracy"
fi
