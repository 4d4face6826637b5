#!/usr/bin/env bash
# Controls for reproduce/reconstruction.sh: the same sae and sarm stacks with their hidden
# stages left at their initial (random) weights (--stage-epochs 0), the same supervised
# top (20 epochs on the frozen features) and the same linear probes. A pretrained stage is
# worth what it adds over these. Writes book/src/results/recon-{sae,sarm}-untrained/.
# About 15 minutes on 2 shared cores.
#   reproduce/reconstruction_controls.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results
cargo build --release -q -p locus-cli
locus=${LOCUS_BIN:-target/release/locus}
common=(--dataset mnist --data-dir "$data/mnist" --hidden 1000,1000 --batch-size 64
        --lr 0.05 --lr-schedule cosine --seed 0 --stage-epochs 0 --epochs 20)
for algo in sae sarm; do
  if [ -f "$out/recon-$algo-untrained/results.json" ]; then
    echo "skip recon-$algo-untrained (results exist)"
    continue
  fi
  "$locus" train --algo "$algo" "${common[@]}" --out "$out/recon-$algo-untrained"
done
