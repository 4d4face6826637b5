#!/usr/bin/env bash
# Synthetic gradients for RNNs (Jaderberg et al. 2016, sect. 3.1, Table 1): the longest
# sequence length N an LSTM solves on the copy and repeat-copy tasks under truncated BPTT
# with the gradient cut at every boundary, BPTT(T), and with synthetic gradients at the
# boundaries, DNI(T), for T in TS (default 2 3 4 5 8), plus full BPTT (T = 1000, longer
# than any sequence reached) as a reference.
#
# Every run: an LSTM of HIDDEN units (default 64; the paper uses 256), a linear sigmoid
# read-out, Adam at lr 3e-3 for both, batches of 32 sequences; DNI adds a linear,
# zero-initialised gradient model trained by Adam at lr 1e-2. The curriculum starts at
# N = 1 and moves to N + 1 when the cross-entropy on 256 fresh sequences is below 0.15
# bits per output step, checked every 50 batches; the budget is EPOCHS (default 200)
# checks, i.e. 200 x 50 = 10,000 batches (320,000 sequences) per run, for each seed in
# SEEDS (default "0 1"; the seed fixes the weights and the sequences). Repeat copy draws
# the repeat count per sequence from 1..=2.
#
# A run that stops with an error (e.g. a diverging loss) is listed in failed.txt with its
# last log line and shown as "failed" in the table. Runs whose results.json exists are kept (delete the directory to redo one); JOBS runs
# (default 2) go at once. Writes one directory per run under book/src/results/dni-copy/
# and the summary table summary.md / summary.json there.
# About 40 minutes per seed with JOBS=3 on 2 shared cores.
#   [EPOCHS=200] [HIDDEN=64] [TS="2 3 4 5 8"] [SEEDS="0 1"] [JOBS=2] [OUT_DIR=...] \
#     reproduce/recurrent_dni.sh
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${EPOCHS:-200}
hidden=${HIDDEN:-64}
ts=${TS:-2 3 4 5 8}
jobs=${JOBS:-2}
seeds=${SEEDS:-0 1}
out=${OUT_DIR:-book/src/results/dni-copy}
mkdir -p "$out"
cargo build --release -q -p locus-cli
export LOCUS=target/release/locus OUT=$out EPOCHS_=$epochs HIDDEN_=$hidden

run_one() {  # run_one TASK ALGO T SEED
  local dir=$OUT/$1-$2-T$3-seed$4
  [ -f "$dir/results.json" ] && return 0
  local sg=()
  [ "$2" = dni ] && sg=(--sg-lr 0.01)
  "$LOCUS" train --model lstm --dataset "$1" --algo "$2" --truncation "$3" \
    --hidden "$HIDDEN_" --optimizer adam --lr 0.003 "${sg[@]}" --batch-size 32 \
    --batches-per-epoch 50 --eval-size 256 --max-repeats 2 --epochs "$EPOCHS_" \
    --seed "$4" --out "$dir" 2> "$dir.log" > /dev/null \
    || { echo "$1 $2 T=$3 seed $4: $(tail -n 1 "$dir.log")" | tee -a "$OUT/failed.txt" >&2; return 0; }
  mv "$dir.log" "$dir/train.log"
  echo "done $1 $2 T=$3 seed $4: $(grep -c solved "$dir/train.log") lengths solved"
}
export -f run_one

{
  for seed in $seeds; do
    for task in copy repeat-copy; do
      for t in $ts; do
        for algo in bp dni; do echo "$task $algo $t $seed"; done
      done
      echo "$task bp 1000 $seed"
    done
  done
} | xargs -P "$jobs" -L 1 bash -c 'run_one "$0" "$1" "$2" "$3"'

python3 - "$out" "$seeds" $ts <<'PY'
import json, sys, pathlib
out, seeds, ts = pathlib.Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
summary, lines = {}, []
for task in ["copy", "repeat-copy"]:
    lines.append(f"| {task} (seeds {', '.join(seeds)}) | " + " | ".join(f"T={t}" for t in ts) + " | full BPTT |")
    lines.append("|---|" + "---|" * (len(ts) + 1))
    for algo in ["bp", "dni"]:
        cells = []
        for t in ts + (["1000"] if algo == "bp" else []):
            per_seed = []
            for seed in seeds:
                key = f"{task}/{algo}/T{t}/seed{seed}"
                path = out / f"{task}-{algo}-T{t}-seed{seed}" / "results.json"
                if not path.exists():
                    summary[key] = None
                    per_seed.append("failed")
                    continue
                r = json.loads(path.read_text())
                c = r["curriculum"]
                lstm = next(s for s in r["stages"] if s["name"] == "lstm")
                summary[key] = {
                    "longest_solved": c["longest_solved"],
                    "final_length": c["final_length"],
                    "solved_at": c["solved_at"],
                    "batches": c["batches"],
                    "alignment_deg": lstm.get("alignment_deg"),
                    "sg_relative_error": lstm.get("sg_relative_error"),
                    "samples_per_s": r["samples_per_s"],
                    "wall_s": r["wall_s"],
                }
                per_seed.append(str(c["longest_solved"]))
            cells.append(" / ".join(per_seed))
        if algo == "dni":
            cells.append("—")
        name = "BPTT(T)" if algo == "bp" else "DNI(T)"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
(out / "summary.md").write_text("\n".join(lines))
print("\n".join(lines))
PY
