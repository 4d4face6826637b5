#!/usr/bin/env bash
# Schedulers and asynchrony (issue 7). Writes results.json, epochs.csv and PNG curves per
# run under book/src/results/schedulers/, then summary.csv / summary.md (one row per run)
# and the comparison plots.
#
#  throughput/  Lockstep against Pipelined on MNIST: the same 784-1000-1000-10 ReLU MLP
#               (its two hidden stages cost about the same, the top one little), the same
#               data, seed 0 and EPOCHS epochs (default 10), for bp, dfa, dni and cdni.
#               Matrix products run on one thread (MATMUL_NUM_THREADS=1), so that the
#               stages' own concurrency is what is measured. dfa and bp: SGD momentum 0.9,
#               lr 0.05 cosine (as reproduce/feedback_alignment.sh); dni and cdni: Adam
#               3e-4 (as reproduce/synthetic_gradients.sh).
#  simulated/   Accuracy against the simulated link delay: MNIST-1D generated in memory,
#               40-256-256-10 ReLU, SIM_EPOCHS epochs (default 20), seed 0, every stage
#               taking 1 time unit per forward pass and 2 per update, 32 batches in
#               flight and channels of 32, link (and broadcast) delays 0 to 16, for dfa
#               (SGD 0.05), dni and cdni (Adam 1e-3); and each rule under Lockstep.
#
# machine.txt records the cores and the load average before and after: throughput figures
# taken on a busy machine are not the machine's.
# About 1 hour on 2 quiet cores (the simulated part: a few minutes).
#   [EPOCHS=10] [SIM_EPOCHS=20] [PARTS="throughput simulated"] [ALGOS="bp dfa dni cdni"] \
#     reproduce/schedulers.sh [DATA_DIR]
# GIM (Conv1d encoder on MNIST-1D, Adam 1e-3) joins both parts with its own settings.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
epochs=${EPOCHS:-10}
sim_epochs=${SIM_EPOCHS:-20}
parts=${PARTS:-throughput simulated}
algos=${ALGOS:-bp dfa dni cdni}
out=book/src/results/schedulers
mkdir -p "$out"
cargo build --release -q -p locus-cli
locus=${LOCUS_BIN:-target/release/locus}
# shellcheck source=reproduce/legacy_synthetic_gradient.sh
source reproduce/legacy_synthetic_gradient.sh
legacy_sg_bin=$locus; locus=legacy_sg_locus
# The committed gim runs used the sequence encoder of that day (see the sourced file).
# shellcheck source=reproduce/legacy_sequence_encoder.sh
source reproduce/legacy_sequence_encoder.sh
mapfile -t legacy_gim < <(legacy_sequence_encoder)

{ echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"; rustc --version
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$out/machine.txt"

optimizer() {  # optimizer ALGO DATASET
  case $1-$2 in
    dni-mnist|cdni-mnist) echo "--optimizer adam --lr 0.0003" ;;
    dni-*|cdni-*) echo "--optimizer adam --lr 0.001" ;;
    *-mnist) echo "--lr 0.05 --lr-schedule cosine" ;;
    *) echo "--lr 0.05" ;;
  esac
}

if [[ " $parts " == *" throughput "* ]]; then
  for algo in $algos; do
    runs=()
    for scheduler in lockstep pipelined; do
      dir=$out/throughput/$algo-$scheduler
      # shellcheck disable=SC2046
      MATMUL_NUM_THREADS=1 $locus train --algo "$algo" --dataset mnist --data-dir "$data/mnist" \
        --hidden 1000,1000 --activation relu --epochs "$epochs" --seed 0 \
        $(optimizer "$algo" mnist) --scheduler "$scheduler" --out "$dir"
      runs+=("$dir/results.json")
    done
    $locus plot "${runs[@]}" --labels "$algo lockstep,$algo pipelined" \
      --out "$out/throughput/$algo-accuracy.png" \
      --title "MNIST, 784-1000-1000-10, $algo: lockstep vs pipelined"
  done
fi

if [[ " $parts " == *" throughput "* ]]; then
  # Greedy InfoMax's three Conv1d stages on MNIST-1D (test accuracy: the top stage's probe).
  for scheduler in lockstep pipelined; do
    MATMUL_NUM_THREADS=1 $locus train --algo gim --dataset mnist1d --epochs "$epochs" --seed 0 \
      --optimizer adam --lr 0.001 --probe-every 0 --scheduler "$scheduler" "${legacy_gim[@]}" \
      --out "$out/throughput/gim-$scheduler"
  done
fi

if [[ " $parts " == *" simulated "* ]]; then
  runs=()
  for algo in dfa dni cdni; do
    common=(--algo "$algo" --dataset mnist1d --hidden 256,256 --activation relu
            --epochs "$sim_epochs" --seed 0)
    # shellcheck disable=SC2046
    $locus train "${common[@]}" $(optimizer "$algo" mnist1d) --out "$out/simulated/$algo-lockstep"
    for delay in 0 1 2 4 8 16; do
      dir=$out/simulated/$algo-delay$delay
      # shellcheck disable=SC2046
      $locus train "${common[@]}" $(optimizer "$algo" mnist1d) --scheduler simulated \
        --in-flight 32 --capacity 32 --link-delay "$delay" --out "$dir"
      runs+=("$dir/results.json")
    done
  done
  # Greedy InfoMax: its stages need no message, so only their inputs travel the links.
  gim=(--algo gim --dataset mnist1d --epochs "$sim_epochs" --seed 0 --optimizer adam --lr 0.001
       --probe-every 0 "${legacy_gim[@]}")
  $locus train "${gim[@]}" --out "$out/simulated/gim-lockstep"
  for delay in 0 1 2 4 8 16; do
    dir=$out/simulated/gim-delay$delay
    $locus train "${gim[@]}" --scheduler simulated --in-flight 32 --capacity 32 \
      --link-delay "$delay" --out "$dir"
    runs+=("$dir/results.json")
  done
  $locus plot-points "${runs[@]}" --x config.scheduler_config.link_delay \
    --axes "link delay (forward pass = 1)","test accuracy" \
    --title "MNIST-1D, simulated: accuracy against link delay" \
    --out "$out/simulated/accuracy-vs-delay.png"
  # GIM's stages get no messages, so only the other rules have a message staleness.
  $locus plot-points "${runs[@]:0:18}" --x stages.0.message_staleness \
    --axes "bottom stage: updates between forward pass and signal","test accuracy" \
    --title "MNIST-1D, simulated: accuracy against staleness" \
    --out "$out/simulated/accuracy-vs-staleness.png"
fi

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"

# One row per run: scheduler, accuracy, speed, and each stage's staleness and busy fraction.
python3 - "$out" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
rows = []
for path in sorted(root.glob("*/*/results.json")):
    j = json.loads(path.read_text())
    sc = j["config"].get("scheduler_config") or {}
    stages = j["stages"]
    rows.append({
        "run": f"{path.parent.parent.name}/{path.parent.name}",
        "algo": j["algo"],
        "scheduler": j["config"]["scheduler"],
        "link_delay": sc.get("link_delay", ""),
        "epochs": j["epochs"],
        "test_accuracy": j["test_accuracy"],
        "best_accuracy": max(h["test_accuracy"] for h in j["history"]),
        "samples_per_s": round(j["samples_per_s"]),
        "matmul_threads": j["config"].get("matmul_threads", ""),
        "staleness": " / ".join(f"{s['staleness']:.2f}" for s in stages),
        "message_staleness": " / ".join(f"{s.get('message_staleness', 0):.2f}" for s in stages),
        "busy_fraction": " / ".join(f"{s['busy_fraction']:.2f}" for s in stages),
    })
rows.sort(key=lambda r: (r["run"].split("/")[0], r["algo"], r["scheduler"],
                         r["link_delay"] if r["link_delay"] != "" else -1))
keys = list(rows[0]) if rows else []
(root / "summary.csv").write_text(
    ",".join(keys) + "\n" + "".join(",".join(str(r[k]) for k in keys) + "\n" for r in rows))
md = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
md += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
(root / "summary.md").write_text("\n".join(md) + "\n")
print(f"{len(rows)} runs -> {root}/summary.csv, summary.md")
PY
