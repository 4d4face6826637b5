#!/usr/bin/env bash
# Projected speed-up of the mpi scheduler on a cluster (issue 29): each rule's stages timed
# on this machine under lockstep, then run on the simulated scheduler's virtual clock with
# one machine per stage and a link model (5 us latency plus each message's bytes in the
# mpi wire format over 100, 25 or 10 Gbit/s, each stage sending one message after
# another; and links that cost nothing), for 4, 8 and 16 stages of the MNIST MLP
# 784-1000x(K-1)-10, batch 64, for bp, dfa, dgl and dni; and again with every stage time
# divided by 100 (stages on something 100 times faster than this core). How it is done:
# reproduce/mpi_projection.py. Writes book/src/results/cluster/projection.jsonl (one line
# per rule, stage count and link: stage times, lockstep and projected microseconds per
# batch, speed-up), projection.md (the table) and projection.png (the plot), and
# projection-machine.txt (the machine and its load: stage times measured on a busy machine
# are not the machine's). Runs on one core (MATMUL_NUM_THREADS=1): about 6 minutes on a quiet
# core, 10 on a busy one.
#   [RULES="bp dfa dgl dni"] [STAGE_COUNTS="4 8 16"] [COMPUTE_SCALES="1 100"] \
#     reproduce/mpi_projection.sh [DATA_DIR]
# REPORT_ONLY=1 redraws projection.md and projection.png from projection.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}/mnist}
out=book/src/results/cluster
mkdir -p "$out"
[[ -n ${LOCUS_BIN:-} ]] || nice -n 10 cargo build --release -q -p locus-cli
locus=${LOCUS_BIN:-target/release/locus}
if [[ -n ${REPORT_ONLY:-} ]]; then
  exec python3 reproduce/mpi_projection.py "$locus" "$data" "$out"
fi
{ echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$out/projection-machine.txt"
python3 reproduce/mpi_projection.py "$locus" "$data" "$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/projection-machine.txt"
cat "$out/projection.md"
