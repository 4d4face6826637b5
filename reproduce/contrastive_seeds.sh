#!/usr/bin/env bash
# GIM against end-to-end CPC on MNIST patches for more seeds: the runs of
# reproduce/contrastive.sh's patch section (10,000 training images, 10 epochs, Adam 1e-3,
# batch 64, K = 3, 16 negatives), with --seed S, written to
# book/src/results/gim-mnist/{gim,cpc}-seedS/. Prints each run's probe accuracy per stage.
# About 10 minutes per seed on 2 cores.
#   reproduce/contrastive_seeds.sh [DATA_DIR] [SEEDS]   (default: ../shared/data, "1")
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
seeds=${2:-1}
res=book/src/results/gim-mnist
if [ -z "${LOCUS_BIN:-}" ]; then cargo build --release -q -p locus-cli; fi
locus=${LOCUS_BIN:-target/release/locus}
patches=(--dataset mnist --data-dir "$data/mnist" --train-limit 10000 --epochs 10 --probe-every 2
         --optimizer adam --lr 1e-3 --batch-size 64 --prediction-steps 3 --negatives 16)
for seed in $seeds; do
  for algo in gim cpc; do
    dir=$res/$algo-seed$seed
    if [ -f "$dir/results.json" ]; then echo "kept $dir"; continue; fi
    "$locus" train "${patches[@]}" --algo "$algo" --seed "$seed" --out "$dir"
  done
done
for seed in $seeds; do
  for algo in gim cpc; do
    python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], 'seed', sys.argv[3], 'probe accuracy per stage:',
      ' / '.join(f\"{100 * s['probe_accuracy']:.1f}\" for s in d['stages'] if 'probe_accuracy' in s))
" "$res/$algo-seed$seed/results.json" "$algo" "$seed"
  done
done
