#!/usr/bin/env bash
# Bias and variance of the mutual-information estimators InfoNCE, NWJ, DV and JS with the
# optimal critic (locus_testing::estimators::optimal_critic_sweep): 20-dimensional
# correlated Gaussians with true mutual information 0, 2, 4, 6, 8, 10 nats, batches of 64,
# 128 and 256 pairs, 1000 seeded batches per cell (Poole et al. 2019, Fig. 2's set-up).
# Writes book/src/results/estimators/: cells.jsonl, cells.csv, table.md,
# estimates-n{64,128,256}.png and std.png. Deterministic; about 100 s on one core once
# built.
#   reproduce/estimators.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-book/src/results/estimators}
cargo run --release -q --example estimator_bias -- "$out"
