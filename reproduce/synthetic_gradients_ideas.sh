#!/usr/bin/env bash
# Ideas against DNI's gap to backprop on MNIST (synthetic gradients without labels): one
# 10-epoch run per setting (one of 20 epochs), seed 0, 784-256-256-256-10 ReLU (and 6
# hidden layers for two runs), every layer its own stage, the depth script's budget (Adam
# 3e-4 with a cosine schedule, batch 64; linear gradient models starting at zero, Adam
# 1e-3) unless a run says otherwise. The ideas: LayerNorm after every hidden linear map
# (--layer-norm), a one-epoch warm-up during which the gradient models learn but the
# hidden stages hold their updates (--sg-warmup-epochs 1), a gradient model with a hidden
# layer, the rates with LayerNorm, and BP(λ) annealed from 1 (true gradients) to 0
# (synthetic only) over the first 5 or 9 epochs (--sg-lambda-anneal-epochs), and the
# paper's gradient model (two normalised hidden layers, --sg-model norm-mlp). bp and cDNI,
# with and without LayerNorm, are the references.
# Writes one directory per run and a table, ideas.md, into
# book/src/results/dni-mnist-ideas/. About 40 minutes on one core (MATMUL_NUM_THREADS=1).
# Runs whose directory already holds a results.json are kept; set FORCE=1 to redo them.
#   reproduce/synthetic_gradients_ideas.sh [DATA_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results/dni-mnist-ideas
mkdir -p "$out"
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary) || exit 1
# shellcheck source=reproduce/legacy_synthetic_gradient.sh
source reproduce/legacy_synthetic_gradient.sh
legacy_sg_bin=$locus; locus=legacy_sg_locus
export MATMUL_NUM_THREADS=${MATMUL_NUM_THREADS:-1}
run() {  # run NAME ARGS...: the shared settings but those ARGS give
  local common=(--dataset mnist --data-dir "$data/mnist" --lr-schedule cosine --batch-size 64
                --seed 0)
  case " $* " in *" --lr "*) ;; *) common+=(--optimizer adam --lr 0.0003) ;; esac
  case " $* " in *" --hidden "*) ;; *) common+=(--hidden 256,256,256) ;; esac
  case " $* " in *" --epochs "*) ;; *) common+=(--epochs 10) ;; esac
  train_once "$out/$1" "${@:2}"
}
h6=256,256,256,256,256,256
run bp --algo bp
run bp-ln --algo bp --layer-norm
run cdni --algo cdni
run cdni-ln --algo cdni --layer-norm
run dni --algo dni
run dni-ln --algo dni --layer-norm
run dni-warmup1 --algo dni --sg-warmup-epochs 1
run dni-ln-warmup1 --algo dni --layer-norm --sg-warmup-epochs 1
run dni-mlpM --algo dni --sg-model mlp --sg-hidden 256
run dni-mlpM-warmup1 --algo dni --sg-model mlp --sg-hidden 256 --sg-warmup-epochs 1
run dni-ln-mlpM --algo dni --layer-norm --sg-model mlp --sg-hidden 256
run dni-ln-sglr0.0001 --algo dni --layer-norm --sg-lr 0.0001
run dni-ln-sglr0.01 --algo dni --layer-norm --sg-lr 0.01
run dni-ln-adam0.001 --algo dni --layer-norm --lr 0.001
run dni-ln-sgd0.01 --algo dni --layer-norm --optimizer sgd --lr 0.01 --momentum 0.9
run dni-h6 --algo dni --hidden $h6
run dni-ln-h6 --algo dni --layer-norm --hidden $h6
run dni-ln-e20 --algo dni --layer-norm --epochs 20
# BP(λ) annealed from 1 (backprop) to 0 (DNI) over the first 5 or 9 of the 10 epochs.
run dni-ln-anneal5 --algo dni --layer-norm --sg-lambda 1 --sg-lambda-anneal-epochs 5
run dni-ln-anneal9 --algo dni --layer-norm --sg-lambda 1 --sg-lambda-anneal-epochs 9
# The paper's gradient model for DNI on MNIST: two hidden layers (of 1024 there) with
# normalisation, last layer zero at first; LayerNorm stands in for batch normalisation.
run dni-normM256 --algo dni --sg-model norm-mlp --sg-hidden 256 --sg-layers 2
run dni-ln-normM256 --algo dni --layer-norm --sg-model norm-mlp --sg-hidden 256 --sg-layers 2
run dni-ln-normM1024 --algo dni --layer-norm --sg-model norm-mlp --sg-hidden 1024 --sg-layers 2
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = ["| run | arguments | test error after the last epoch (10 unless --epochs) | best epoch | train loss, last epoch |",
        "|---|---|---|---|---|"]
for d in sorted(p for p in out.iterdir() if p.is_dir()):
    args = (d / "args.txt").read_text().strip()
    if (d / "failed.txt").exists():
        rows.append(f"| {d.name} | `{args}` | failed: {(d / 'failed.txt').read_text().strip()} | | |")
        continue
    j = json.loads((d / "results.json").read_text())
    best = max(e["test_accuracy"] for e in j["history"])
    rows.append(f"| {d.name} | `{args}` | {100 * (1 - j['test_accuracy']):.2f}% "
                f"| {100 * (1 - best):.2f}% | {j['train_loss']:.3f} |")
(out / "ideas.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
"$locus" plot "$out"/{bp,dni,dni-ln,dni-ln-warmup1,cdni}/results.json \
  --labels "bp,dni,dni + LayerNorm,dni + LayerNorm + warm-up,cdni" \
  --out "$out/test-accuracy.png" --title "MNIST, 3 hidden layers of 256: test accuracy"
