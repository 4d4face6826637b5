#!/usr/bin/env bash
# Synthetic gradients on the wider MLP of the other reproductions (784-1000-1000-10 ReLU,
# every layer its own stage), the setting public DNI ports report on (DNI 96% against
# backprop 97% test accuracy): bp, dni and cdni with the same budget, Adam lr 3e-4 with a
# cosine schedule, batch 64, 20 epochs, seed 0; linear gradient models starting at zero
# (Adam 1e-3). Then the same three with --layer-norm (a LayerNorm after every hidden
# linear map, before the ReLU, where the DNI paper has batch normalisation). Writes one
# directory per run into book/src/results/dni-mnist-wide/ and a table, wide.md. About 5
# minutes a run on 2 cores. Runs whose directory already holds a results.json are kept;
# set FORCE=1 to redo them.
#   reproduce/synthetic_gradients_wide.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results/dni-mnist-wide
mkdir -p "$out"
cargo build --release -q -p locus-cli
# A private copy, so rebuilding the workspace meanwhile does not swap binaries.
locus=$(mktemp -d)/locus
cp target/release/locus "$locus"
# shellcheck source=reproduce/legacy_synthetic_gradient.sh
source reproduce/legacy_synthetic_gradient.sh
legacy_sg_bin=$locus; locus=legacy_sg_locus
common=(--dataset mnist --data-dir "$data/mnist" --hidden 1000,1000 --optimizer adam
        --lr 0.0003 --lr-schedule cosine --batch-size 64 --epochs 20 --seed 0)
run() {  # run NAME ARGS...
  local name=$1; shift
  if [ -z "${FORCE:-}" ] && [ -f "$out/$name/results.json" ]; then return; fi
  "$locus" train "${common[@]}" "$@" --out "$out/$name" 2> "$out/$name.log"
}
for algo in bp dni cdni; do
  run "$algo" --algo "$algo"
  run "$algo-ln" --algo "$algo" --layer-norm
done
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = ["| run | test error | best epoch's test error |", "|---|---|---|"]
for a in ("bp", "dni", "cdni", "bp-ln", "dni-ln", "cdni-ln"):
    j = json.loads((out / a / "results.json").read_text())
    best = max(h["test_accuracy"] for h in j["history"])
    rows.append(f"| {a} | {100 * (1 - j['test_accuracy']):.2f}% | {100 * (1 - best):.2f}% |")
(out / "wide.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
"$locus" plot "$out"/{bp,dni,cdni,bp-ln,dni-ln,cdni-ln}/results.json \
  --labels "bp,dni,cdni,bp + LayerNorm,dni + LayerNorm,cdni + LayerNorm" \
  --out "$out/test-accuracy.png" --title "MNIST, 784-1000-1000-10, Adam 3e-4: test accuracy"
