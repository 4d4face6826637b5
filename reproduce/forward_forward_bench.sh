#!/usr/bin/env bash
# Throughput of one Forward-Forward training step (positive + negative pass through every
# stage and each stage's update, batch 100), for 784-500-500 and the paper's 784-2000x4,
# and of the whole trainer step (negatives, step, read-out), written to
# book/src/results/ff-bench/ with the machine's load at the time (other jobs on a shared
# machine slow it down: read the figures with the load beside them). A few minutes.
#   reproduce/forward_forward_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=book/src/results/ff-bench
mkdir -p "$out"
{ echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)";
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"; rustc --version;
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$out/machine.txt"
cargo bench --bench forward_forward_step -- --warm-up-time 2 --measurement-time 10 2>&1 \
  | tee "$out/criterion.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
