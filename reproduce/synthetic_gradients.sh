#!/usr/bin/env bash
# Synthetic gradients on MNIST, side by side with backprop: a 784-256-256-256-10 ReLU MLP,
# every layer its own stage, Adam lr 3e-4 for every stage, batch 64, 20 epochs, seed 0;
# gradient models trained by Adam 1e-3. Runs bp, dni (linear gradient model, as in the
# paper), dni with a one-hidden-layer gradient model (--sg-model mlp), and cdni (linear,
# label-conditioned). Writes one directory per run under book/src/results/dni-mnist-mlp/
# and one comparison chart. About 10 minutes on 2 cores.
#   reproduce/synthetic_gradients.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results/dni-mnist-mlp
cargo build --release -q -p locus-cli
locus=target/release/locus
# shellcheck source=reproduce/legacy_synthetic_gradient.sh
source reproduce/legacy_synthetic_gradient.sh
legacy_sg_bin=$locus; locus=legacy_sg_locus
common=(--dataset mnist --data-dir "$data/mnist" --hidden 256,256,256 --activation relu
        --optimizer adam --lr 0.0003 --epochs 20 --seed 0)
$locus train --algo bp "${common[@]}" --out "$out/bp-seed0"
$locus train --algo dni "${common[@]}" --out "$out/dni-linear-seed0"
$locus train --algo dni --sg-model mlp --sg-hidden 256 "${common[@]}" --out "$out/dni-mlp-seed0"
$locus train --algo cdni "${common[@]}" --out "$out/cdni-linear-seed0"
$locus plot "$out"/{bp,dni-linear,dni-mlp,cdni-linear}-seed0/results.json \
  --labels "bp,dni (linear M),dni (MLP M),cdni (linear M)" \
  --out "$out/test-accuracy.png" --title "MNIST, 784-256x3-10 MLP: test accuracy"
