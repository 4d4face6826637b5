#!/usr/bin/env bash
# Learning by reconstruction on MNIST (issue 6): greedy layer-wise pretraining of a
# 784-1000-1000-10 network, every hidden stage learning alone to reconstruct its input.
#   sae   dense ReLU stages, tied decoder (decoder = Wᵀ), squared error;
#   sarm  sparse-coding stages (3 unrolled ISTA steps, λ = 0.1), closed-form ridge decoder
#         (λ = 1e-3) refit once per epoch: the "approximated regression" of SARM.
# Supervised phases (top, fine-tuning, backprop): SGD momentum 0.9, lr 0.05 with cosine
# decay, batch 64, seed 0; pretraining: the same SGD at lr 0.01 (cosine within each
# stage's budget). Linear probes (Adam 1e-3, 5 epochs, standardised features) on every
# stage and on the raw pixels.
#   (a) probes on each greedy stage, (b) greedy + supervised top (20 epochs on frozen
#   features): recon-sae, recon-sarm;
#   (c) the same + 20 epochs of end-to-end fine-tuning: recon-sae-finetune;
#   (d) backprop from scratch, same network and optimizer: recon-bp;
#   subsets: each hidden stage trained on 0.5% / 5% of the training set with the same
#   number of updates as on 100% (5 epochs of 100% = 100 of 5% = 1000 of 0.5%; sarm 2,
#   40, 400): recon-{sae,sarm}-frac{0.005,0.05}. Top and probes always use all 60,000.
# Every run writes results.json, epochs.csv and plots into book/src/results/recon-*/.
# A run whose results.json exists is skipped (delete it to redo). Roughly an hour on 2
# shared cores.
#   reproduce/reconstruction.sh [DATA_DIR]      (default: $LOCUS_DATA, else ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results
cargo build --release -q -p locus-cli
locus=target/release/locus
common=(--dataset mnist --data-dir "$data/mnist" --hidden 1000,1000 --batch-size 64
        --lr 0.05 --lr-schedule cosine --seed 0)
sae=(--algo sae --decoder tied --pretrain-lr 0.01)
sarm=(--algo sarm --decoder ridge --ridge-lambda 0.001 --ridge-refit epoch --pretrain-lr 0.01
      --ista-steps 3 --l1 0.1)

run() {  # run NAME ARGS...
  local name=$1; shift
  if [ -f "$out/$name/results.json" ]; then
    echo "skip $name (results exist)"
    return
  fi
  echo "== $name"
  "$locus" train "$@" --out "$out/$name"
}

run recon-sae "${sae[@]}" "${common[@]}" --stage-epochs 5 --epochs 20
run recon-sae-finetune "${sae[@]}" "${common[@]}" --stage-epochs 5 --finetune --epochs 20
run recon-bp --algo bp "${common[@]}" --epochs 20
run recon-sarm "${sarm[@]}" "${common[@]}" --stage-epochs 2 --epochs 20
run recon-sae-frac0.05 "${sae[@]}" "${common[@]}" --pretrain-fraction 0.05 --stage-epochs 100 --epochs 20
run recon-sae-frac0.005 "${sae[@]}" "${common[@]}" --pretrain-fraction 0.005 --stage-epochs 1000 --epochs 20
run recon-sarm-frac0.05 "${sarm[@]}" "${common[@]}" --pretrain-fraction 0.05 --stage-epochs 40 --epochs 20
run recon-sarm-frac0.005 "${sarm[@]}" "${common[@]}" --pretrain-fraction 0.005 --stage-epochs 400 --epochs 20

"$locus" plot "$out"/recon-{bp,sae-finetune,sae,sarm}/results.json \
  --labels "backprop,sae + fine-tuning,sae (frozen) + top,sarm (frozen) + top" \
  --out "$out/recon-test-accuracy.png" --title "MNIST 784-1000-1000-10: test accuracy"
