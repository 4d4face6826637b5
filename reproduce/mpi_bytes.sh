#!/usr/bin/env bash
# Bytes each rank sends per batch under --scheduler mpi (issue 29), per rule: bp, dfa, dgl
# and dni on MNIST, the default 784-1000-1000-10 MLP (three stages, so three ranks), batch
# 64, the first TRAIN_LIMIT training samples (default 6400: 100 batches), one epoch, seed
# 0. Writes book/src/results/cluster/bytes.jsonl: one line per rule and rank, with the
# bytes per batch it sent in all and by kind (activations up, gradients down, the global
# error, credits, and the reports to rank 0 that only feed its progress bar), as
# results.json's stage figures give them. Bytes are counted as the mpi scheduler sends
# them: whole messages of its wire format, header and payload. About 1 minute.
#   [TRAIN_LIMIT=6400] [RULES="bp dfa dgl dni"] reproduce/mpi_bytes.sh [DATA_DIR]
#
# What the wire format predicts, per batch of b samples, f32 (4 bytes a value), a stage
# of width w, 10 classes (see crates/locus-sched/src/distributed/wire.rs):
#   activation up   5 (magic, kind) + 8 (batch id) + 4 + 8b (labels) + 2 + 16 + 4bw
#                   (a 2-axis tensor) + 1 (no network input) = 36 + 8b + 4bw
#                   b=64, w=1000: 256,548 bytes, from rank 0 and from rank 1
#   gradient down   5 + 8 + 18 + 4bw = 31 + 4bw: 256,031 bytes (bp; and dni, whose
#                   gradient models learn from the true gradient when it comes)
#   global error    31 + 4b·10 = 2,591 bytes to each stage below the top (dfa): 5,182
#   credit          5 bytes, one per batch from every rank above the first
#   reports         a step (62) per update of each rank above 0, and the top loss (21)
# So bp and dni send as much down as up (about 0.5 MB per batch per hidden link), dfa
# 1% of that down (the 10-wide error), dgl nothing but credits.
set -euo pipefail
# OpenMPI refuses to start as root unless told to (containers and CI run as root).
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}/mnist}
limit=${TRAIN_LIMIT:-6400}
rules=${RULES:-bp dfa dgl dni}
out=book/src/results/cluster
mkdir -p "$out"
[[ -n ${LOCUS_BIN:-} ]] || nice -n 10 cargo build --release -q -p locus-cli --features mpi
locus=${LOCUS_BIN:-target/release/locus}
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
: > "$out/bytes.jsonl"
# The stack's stage count, from the refusal of a one-rank run (it names the count).
stages_of() { # rule
  OMPI_MCA_mpi_yield_when_idle=1 mpirun -n 1 "$locus" train --algo "$1" --dataset mnist \
    --data-dir "$data" --train-limit 64 --epochs 1 --scheduler mpi 2>&1 |
    sed -n 's/.*the stack has \([0-9]*\) stages.*/\1/p' | head -1 || true
}
for rule in $rules; do
  ranks=$(stages_of "$rule")
  OMPI_MCA_mpi_yield_when_idle=1 MATMUL_NUM_THREADS=1 \
    mpirun --oversubscribe -n "$ranks" "$locus" train --algo "$rule" --dataset mnist \
    --data-dir "$data" --train-limit "$limit" --epochs 1 --batch-size 64 --seed 0 \
    --scheduler mpi --out "$runs/$rule" > /dev/null
  python3 - "$rule" "$runs/$rule/results.json" >> "$out/bytes.jsonl" <<'PY'
import json, sys
rule, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
ranks = r["config"]["scheduler_config"]["ranks"]
for rank, s in enumerate(r["stages"]):
    print(json.dumps({
        "rule": rule, "ranks": ranks, "rank": rank, "stage": s["name"],
        "batch_size": r["config"]["batch_size"], "train_samples": r["config"]["train_samples"],
        "bytes_per_batch": round(s["bytes_per_batch"]),
        "activations": round(s["activation_bytes_per_batch"]),
        "gradients": round(s["gradient_bytes_per_batch"]),
        "global_errors": round(s["global_error_bytes_per_batch"]),
        "credits": round(s["credit_bytes_per_batch"], 2),
        "reports": round(s["report_bytes_per_batch"], 1),
        "bytes_sent": round(s["bytes_sent"]),
    }))
PY
done
cat "$out/bytes.jsonl"
