#!/usr/bin/env bash
# Throughput of the mpi scheduler on this machine (issue 29): 2 ranks (mpirun -n 2, one
# stage each) against lockstep and pipelined (one thread per stage) on the same 2-stage
# network, 784-HIDDEN-10 (default HIDDEN=1000: the MLP's one hidden stage and its read-out),
# for dfa and dgl, one MNIST epoch (TRAIN_LIMIT samples, default all 60,000), batch 64,
# seed 0, matrix products on one thread per stage (MATMUL_NUM_THREADS=1). Writes
# book/src/results/cluster/throughput.jsonl (one line per rule and scheduler: samples/s
# over the training time, the epoch's training seconds, test accuracy, each stage's busy
# fraction) and throughput-machine.txt (the cores and the load before and after: figures
# taken on a busy machine are not the machine's; run it in a quiet sitting).
# The read-out (1000 -> 10) costs about 1% of the hidden stage (784 -> 1000), so two ranks
# can at best match lockstep here: the figure says what the processes and the messages
# cost, not what pipelining gains (for that, see reproduce/mpi_projection.sh).
# About 1 minute on 2 quiet cores (6 runs of one epoch).
#   [HIDDEN=1000] [TRAIN_LIMIT=60000] [RULES="dfa dgl"] [OUT=DIR] reproduce/mpi_throughput.sh [DATA_DIR]
set -euo pipefail
# OpenMPI refuses to start as root unless told to (containers and CI run as root).
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}/mnist}
hidden=${HIDDEN:-1000}
limit=${TRAIN_LIMIT:-60000}
rules=${RULES:-dfa dgl}
out=${OUT:-book/src/results/cluster}
mkdir -p "$out"
[[ -n ${LOCUS_BIN:-} ]] || cargo build --release -q -p locus-cli --features mpi
locus=${LOCUS_BIN:-target/release/locus}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
{ echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$out/throughput-machine.txt"
: > "$out/throughput.jsonl"
for rule in $rules; do
  for scheduler in lockstep pipelined mpi; do
    launch=()
    if [[ $scheduler == mpi ]]; then
      # A waiting rank yields its core (the two ranks have the machine's two cores).
      launch=(mpirun -n 2 -x OMPI_MCA_mpi_yield_when_idle=1 -x MATMUL_NUM_THREADS=1)
    fi
    MATMUL_NUM_THREADS=1 "${launch[@]}" "$locus" train --algo "$rule" --dataset mnist \
      --data-dir "$data" --hidden "$hidden" --train-limit "$limit" --epochs 1 \
      --batch-size 64 --seed 0 --scheduler "$scheduler" --out "$runs/$rule-$scheduler" \
      > /dev/null
    python3 - "$rule" "$scheduler" "$runs/$rule-$scheduler/results.json" <<'PY' | tee -a "$out/throughput.jsonl"
import json, sys
rule, scheduler, path = sys.argv[1:]
r = json.load(open(path))
print(json.dumps({
    "rule": rule, "scheduler": scheduler,
    "network": "-".join(str(w) for w in r["config"]["network"]["sizes"]),
    "train_samples": r["config"]["train_samples"],
    "samples_per_s": round(r["samples_per_s"]),
    "train_s": round(r["history"][-1]["train_s"], 2),
    "test_accuracy": r["test_accuracy"],
    "busy_fraction": [round(s.get("busy_fraction", 0), 3) for s in r["stages"]],
}))
PY
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/throughput-machine.txt"
