#!/usr/bin/env bash
# Redraws every plot the book shows from the results already under book/src/results,
# training nothing: after a change to the plotting code, this and a look at the images is
# all it takes. Each chart is drawn as the script that trained its runs draws it (named
# beside it); runs' own plots (alignment, stage accuracy, curves) by `locus redraw`. The
# estimator charts come from estimators/cells.jsonl, the cluster projection from
# cluster/projection.jsonl. A few seconds once built.
# PROFILE=dev builds the estimator example (and locus, without LOCUS_BIN) in the dev profile.
#   [LOCUS_BIN=target/release/locus] [PROFILE=release] reproduce/replot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
res=book/src/results
profile=${PROFILE:-release}
[[ -n ${LOCUS_BIN:-} ]] || cargo build --profile "$profile" -q -p locus-cli
dir=$profile
[ "$profile" = dev ] && dir=debug
locus=${LOCUS_BIN:-target/$dir/locus}
quiet() { "$@" > /dev/null; }

# Runs' own plots, as `locus train --out` drew them.
quiet $locus redraw $res/fa-mnist-mlp/{fa,dfa}-seed0 --only alignment
quiet $locus redraw $res/ff-mnist-full/ff-seed0 $res/ff-mnist-full/ff-peer-fullgrad-lr0.0005-seed0 \
  $res/ff-mnist-medium/ff-seed0 --only stage-accuracy
quiet $locus redraw $res/bp-mnist --only curves

# backprop.sh
quiet $locus plot $res/bp-mnist1d-seed{0,1,2}/results.json $res/bp-mnist1d-generated/results.json \
  --out $res/mnist1d-bp-seeds.png --title "MNIST-1D, backprop MLP: test accuracy"

# feedback_alignment.sh (20 and 40 epochs) and feedback_alignment_lenet.sh
for epochs in 20 40; do
  dir=$res/fa-mnist-mlp
  [ $epochs = 20 ] || dir=$dir-$epochs
  quiet $locus plot $dir/{bp,fa,dfa,usf,brsf,frsf}-seed0/results.json --out $dir/test-accuracy.png \
    --title "MNIST, 784-1000-1000-10 relu MLP, $epochs epochs: test accuracy"
done
lenet=$res/fa-mnist-lenet
quiet $locus plot $lenet/{bp,fa}-seed0/results.json $lenet/dfa-lr0.01-seed0/results.json \
  $lenet/{usf,brsf,frsf}-seed0/results.json \
  --out $lenet/test-accuracy.png --title "MNIST, LeNet: test accuracy"

# local_classifiers.sh and greedy_scheduler.sh
quiet $locus plot $res/dgl-mnist-mlp/{bp,dgl}-seed0/results.json --labels "bp,dgl (linear heads)" \
  --out $res/dgl-mnist-mlp/test-accuracy.png \
  --title "MNIST, 784-1000x3-10 ReLU MLP, 20 epochs: test accuracy"
quiet $locus plot $res/schedulers/greedy-dgl-{lockstep,greedy}/results.json \
  --labels "dgl lockstep,dgl greedy (3 epochs per stage)" \
  --out $res/schedulers/greedy-dgl-test-accuracy.png \
  --title "MNIST, 784-1000x3-10, dgl, 12 epochs: lockstep vs greedy layer-wise"

# schedulers.sh
for algo in bp dni; do
  quiet $locus plot $res/schedulers/throughput/$algo-{lockstep,pipelined}/results.json \
    --labels "$algo lockstep,$algo pipelined" --out $res/schedulers/throughput/$algo-accuracy.png \
    --title "MNIST, 784-1000-1000-10, $algo: lockstep vs pipelined"
done
runs=()
for algo in dfa dni cdni gim; do
  for delay in 0 1 2 4 8 16; do
    runs+=("$res/schedulers/simulated/$algo-delay$delay/results.json")
  done
done
quiet $locus plot-points "${runs[@]}" --x config.scheduler_config.link_delay \
  --axes "link delay (forward pass = 1)","test accuracy" \
  --title "MNIST-1D, simulated: accuracy against link delay" \
  --out $res/schedulers/simulated/accuracy-vs-delay.png
quiet $locus plot-points "${runs[@]:0:18}" --x stages.0.message_staleness \
  --axes "bottom stage: updates between forward pass and signal","test accuracy" \
  --title "MNIST-1D, simulated: accuracy against staleness" \
  --out $res/schedulers/simulated/accuracy-vs-staleness.png

# synthetic_gradients*.sh
dni=$res/dni-mnist-mlp
quiet $locus plot $dni/{bp,dni-linear,dni-mlp,cdni-linear}-seed0/results.json \
  --labels "bp,dni (linear M),dni (MLP M),cdni (linear M)" \
  --out $dni/test-accuracy.png --title "MNIST, 784-256x3-10 MLP: test accuracy"
for depth in 3 6; do
  quiet $locus plot $res/dni-mnist-depth/{bp,dni,cdni}-h$depth-seed0/results.json \
    --labels "bp,dni,cdni" --out $res/dni-mnist-depth/test-accuracy-h$depth.png \
    --title "MNIST, $depth hidden layers of 256: test accuracy"
done
quiet $locus plot $res/dni-mnist-wide/{bp,dni,cdni,bp-ln,dni-ln,cdni-ln}/results.json \
  --labels "bp,dni,cdni,bp + LayerNorm,dni + LayerNorm,cdni + LayerNorm" \
  --out $res/dni-mnist-wide/test-accuracy.png \
  --title "MNIST, 784-1000-1000-10, Adam 3e-4: test accuracy"
quiet $locus plot $res/dni-mnist-ideas/{bp,dni,dni-ln,dni-ln-warmup1,cdni}/results.json \
  --labels "bp,dni,dni + LayerNorm,dni + LayerNorm + warm-up,cdni" \
  --out $res/dni-mnist-ideas/test-accuracy.png --title "MNIST, 3 hidden layers of 256: test accuracy"
quiet $locus plot $res/dni-mnist-depth/{bp,dni}-h3-seed0/results.json \
  $res/dni-mnist-targets/{dni-true,dni-true-ln,bp-ln}-h3-seed0/results.json \
  --labels "bp,dni bootstrapped,dni true targets,dni+LN true targets,bp+LN" \
  --out $res/dni-mnist-targets/test-accuracy-h3.png \
  --title "MNIST, 3 hidden layers of 256: test accuracy"
bn=$res/dni-mnist-batch-norm
quiet $locus plot $bn/{bp,dni,dni-true,cdni}-wide-seed0/results.json \
  --labels "bp,dni bootstrapped,dni true targets,cdni" --out $bn/test-accuracy-wide.png \
  --title "MNIST, 784-1000-1000-10 with batch norm: test accuracy"

# contrastive.sh
quiet $locus plot $res/gim-mnist1d/{gim,cpc,bp-encoder}/results.json --labels "gim,cpc,bp-encoder" \
  --out $res/gim-mnist1d/probe-accuracy.png --title "MNIST-1D: linear probe on the top stage"
quiet $locus plot $res/gim-mnist/{gim,cpc,bp-encoder}/results.json --labels "gim,cpc,bp-encoder" \
  --out $res/gim-mnist/probe-accuracy.png --title "MNIST patches: linear probe on the top stage"

# reconstruction.sh
quiet $locus plot $res/{bp-mnist,recon-sae-finetune,recon-sae,recon-sarm}/results.json \
  --labels "backprop,sae + fine-tuning,sae (frozen) + top,sarm (frozen) + top" \
  --out $res/recon-test-accuracy.png --title "MNIST 784-1000-1000-10: test accuracy"

# hsic.sh
for dep in zx zy; do
  quiet $locus plot $res/hsic/mnist-hsic-seed0 --stage-metric "hsic_$dep" --out $res/hsic/hsic-$dep.png \
    --title "MNIST, hsic: nHSIC(Z, ${dep:1:1}) of each hidden stage (read-out alone after epoch 5)"
done

# estimators.sh (the charts only) and mpi_projection.sh (REPORT_ONLY redraws table and chart)
cargo run --profile "$profile" -q --example estimator_bias -- $res/estimators --replot
REPORT_ONLY=1 LOCUS_BIN=$locus reproduce/mpi_projection.sh > /dev/null
echo "redrew the book's plots under $res"
