#!/usr/bin/env bash
# Training speed of `locus train` itself, beside the benches (reproduce/bench.sh): one
# MNIST epoch of the default 784-1000-1000-10 MLP per run, batch 128 (the benches' batch),
# seed 7, for bp, fa and dfa under lockstep and bp and dfa under pipelined, with matrix
# products on one thread (MATMUL_NUM_THREADS=1: the stages' own concurrency) and on all
# cores. Writes book/src/results/bench/cli.jsonl (one line per run: rule, scheduler,
# threads, samples/s over the training time, test accuracy) and cli-machine.txt (cores,
# load before and after). About 5 minutes on 2 quiet cores. cli-summary.md holds the medians. Each run's `step` is
# `defaults` (ReLU, SGD with momentum 0.9 at 0.05) or the bench's step.
#   reproduce/cli_speed.sh [DATA_DIR]        (MNIST IDX files; default ../shared/data/mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}/mnist}
out=book/src/results/bench
mkdir -p "$out"
cargo build --release -q -p locus-cli
locus=${LOCUS_BIN:-target/release/locus}
cores=$(nproc)
{ echo "machine: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)";
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"; echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"; } \
  > "$out/cli-machine.txt"
: > "$out/cli.jsonl"
run() { # rule scheduler threads [step] [extra flags...]
  local rule=$1 scheduler=$2 threads=$3 step=${4:-defaults}
  shift 3; shift $(( $# > 0 ? 1 : 0 ))
  MATMUL_NUM_THREADS=$threads "$locus" train --algo "$rule" --dataset mnist --data-dir "$data" \
    --epochs 1 --batch-size 128 --seed 7 --scheduler "$scheduler" --json "$@" |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
print(json.dumps({"rule": sys.argv[1], "scheduler": sys.argv[2], "threads": int(sys.argv[3]),
                  "step": sys.argv[4], "samples_per_s": round(r["samples_per_s"]),
                  "test_accuracy": r["test_accuracy"]}))
' "$rule" "$scheduler" "$threads" "$step" | tee -a "$out/cli.jsonl"
}
# One epoch takes 2 to 4 seconds, so a single run is at the mercy of the machine: every
# configuration runs REPEATS times (default 3), interleaved, and the summary takes medians.
for repeat in $(seq "${REPEATS:-3}"); do
for threads in 1 "$cores"; do
  for rule in bp fa dfa; do run "$rule" lockstep "$threads"; done
  for rule in bp dfa; do run "$rule" pipelined "$threads"; done
done
# The bench's own step (tanh, plain SGD at 0.01), so the command and the bench's "bp step"
# time the same work.
run bp lockstep "$cores" "bench (tanh, sgd 0.01)" --activation tanh --momentum 0 --lr 0.01
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/cli-machine.txt"
# Medians per configuration, and pipelined over lockstep per thread count.
python3 - "$out/cli.jsonl" > "$out/cli-summary.md" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault((r["rule"], r["scheduler"], r["threads"], r["step"]), []).append(r["samples_per_s"])
med = {k: statistics.median(v) for k, v in runs.items()}
print("| rule | scheduler | matrix threads | step | samples/s, median | runs |")
print("|---|---|---|---|---:|---|")
for k, v in sorted(runs.items(), key=lambda kv: (kv[0][2], kv[0][3], kv[0][1], kv[0][0])):
    print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {med[k]:,.0f} | {', '.join(f'{x:,}' for x in v)} |")
print()
for (rule, sched, threads, step), m in sorted(med.items()):
    if sched == "pipelined":
        base = med.get((rule, "lockstep", threads, step))
        if base:
            print(f"- {rule}, {threads} matrix thread(s): pipelined / lockstep = {m / base:.2f}")
PY
cat "$out/cli-summary.md"
