#!/usr/bin/env bash
# What DNI (synthetic gradients without labels) is sensitive to, on MNIST: one short run
# (10 epochs, seed 0, 784-256-256-256-10, every layer its own stage) per setting, with
# backprop and cDNI as references, and DNI whose gradient models barely move off zero
# (--sg-lr 1e-9), which shows what the stages' own optimizer does with a near-zero signal. Writes one directory per run and a table, sweep.md, into
# book/src/results/dni-mnist-sweep/. About 15 minutes on 2 cores. Runs whose directory
# already holds a results.json are kept; set FORCE=1 to redo them.
#   reproduce/synthetic_gradients_sweep.sh [DATA_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results/dni-mnist-sweep
mkdir -p "$out"
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary) || exit 1
# shellcheck source=reproduce/legacy_synthetic_gradient.sh
source reproduce/legacy_synthetic_gradient.sh
legacy_sg_bin=$locus; locus=legacy_sg_locus
common=(--dataset mnist --data-dir "$data/mnist" --hidden 256,256,256 --epochs 10 --seed 0)
run() { train_once "$out/$1" "${@:2}"; }  # run NAME ARGS...
adam=(--optimizer adam --lr 0.0003)
run bp "${adam[@]}" --algo bp
run dni-sglr1e-9 "${adam[@]}" --algo dni --sg-lr 1e-9
run cdni "${adam[@]}" --algo cdni
for slr in 0.0001 0.0003 0.001 0.003 0.01; do run "dni-sglr$slr" "${adam[@]}" --algo dni --sg-lr $slr; done
for lr in 0.00003 0.0001 0.001; do run "dni-adam$lr" --optimizer adam --lr $lr --algo dni; done
run dni-tanh "${adam[@]}" --algo dni --activation tanh
run dni-batch256 --optimizer adam --lr 0.001 --batch-size 256 --algo dni
run dni-mlpM-sglr0.001 "${adam[@]}" --algo dni --sg-model mlp --sg-hidden 256
run dni-mlpM-sglr0.0001 "${adam[@]}" --algo dni --sg-model mlp --sg-hidden 256 --sg-lr 0.0001
run dni-sgd0.01 --optimizer sgd --lr 0.01 --momentum 0.9 --algo dni
run dni-mlpM-sgd0.01 --optimizer sgd --lr 0.01 --momentum 0.9 --algo dni --sg-model mlp --sg-hidden 256
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = ["| run | arguments | test error after 10 epochs | best epoch | update angle, hidden stages |",
        "|---|---|---|---|---|"]
for d in sorted(p for p in out.iterdir() if p.is_dir()):
    args = (d / "args.txt").read_text().strip()
    if (d / "failed.txt").exists():
        rows.append(f"| {d.name} | `{args}` | failed: {(d / 'failed.txt').read_text().strip()} | | |")
        continue
    j = json.loads((d / "results.json").read_text())
    best = max(e["test_accuracy"] for e in j["history"])
    angles = " / ".join(f"{s['alignment_deg']:.0f}°" for s in j["stages"][:-1] if "alignment_deg" in s)
    rows.append(f"| {d.name} | `{args}` | {100 * (1 - j['test_accuracy']):.2f}% | {100 * (1 - best):.2f}% | {angles} |")
(out / "sweep.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
