#!/usr/bin/env bash
# reproduce/contrastive_mnist1d_skip.sh's configuration with a wider top stage: three Conv1d
# stages of 128, 128 and 256 channels (kernel 5, stride 1), each stage predicting
# k = s+1 ..= s+3 positions ahead with s = 4, 8, 12. The screening run that chose it is
# str111-e20-s4812-w128-128-256 in reproduce/contrastive_mnist1d_screening.sh. GIM (with the
# untrained encoder probed as well, the control for what the width alone gives) and
# end-to-end CPC with the same flags; Adam lr 1e-3, batch 64, 16 negatives, 20 epochs, on
# the generated standard split (4000/1000), the probe after the last epoch only; no
# supervised encoder.
# Seeds as given (default "0 1 2"); writes book/src/results/gim-mnist1d-widetop/ALGO-seedS/
# and the table book/src/results/gim-mnist1d-widetop/table.md. Runs whose results.json
# exists are kept. About 5 minutes per run on one core.
#   reproduce/contrastive_mnist1d_widetop.sh [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
WIDTHS=128,128,256 RES=book/src/results/gim-mnist1d-widetop PROBE_EVERY=0 BP_ENCODER=0 \
  exec reproduce/contrastive_mnist1d_skip.sh "$@"
