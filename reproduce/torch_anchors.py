#!/usr/bin/env python3
"""PyTorch (CPU) throughput of the bench workloads ../shared/anchors/torch_baseline.py does
not cover: the LeNet-5, Greedy InfoMax and Forward-Forward steps of benches/lenet_step.rs,
benches/gim_step.rs and benches/forward_forward_step.rs, and the MLP step of `locus train`'s
defaults (ReLU, SGD momentum) in benches/mlp_step.rs.

    python reproduce/torch_anchors.py [--threads 2] [--seconds 3]

Timed as the shared anchor times (two calls to warm up, then calls until --seconds have
passed, mean time per call), printed as one JSON object per line, {"workload", "samples_per_s"}.
Each workload is named as locus's criterion group and bench ("<group> <bench>"), so
reproduce/bench_ratios.py can pair the rows. Samples are data samples (images), as the
benches' Throughput::Elements counts them: a Forward-Forward sample is run twice (positive
and negative). Written the way a PyTorch user would write each step (nn modules, autograd,
torch.optim), with the same shapes, products and optimizers as locus; where the work is not
the same, the workload's comment says how.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as Fn

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seconds", type=float, default=3.0)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
torch.set_flush_denormal(True)


def timeit(fn, seconds):
    fn(); fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(); n += 1
    return (time.perf_counter() - t0) / n


def report(workload, batch, step):
    dt = timeit(step, args.seconds)
    print(json.dumps({"workload": workload, "samples_per_s": round(batch / dt)}), flush=True)


def sgd_step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    Fn.cross_entropy(model(x), y).backward()
    opt.step()


# 1. LeNet-5 as crates/locus-models/src/lenet.rs builds it: conv 5x5 -> 6 (padding 2), ReLU,
# max-pool 2x2; conv 5x5 -> 16, ReLU, max-pool 2x2; 400 -> 120 -> 84 -> 10 with ReLU; biases
# everywhere; softmax cross-entropy, SGD lr 0.05 momentum 0.9 (benches/lenet_step.rs). locus
# takes [128, 28, 28] and reshapes; here the batch is [128, 1, 28, 28] from the start. Same
# as locus, no gradient is computed for the images.
B = 128
lenet = nn.Sequential(
    nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
x, y = torch.rand(B, 1, 28, 28), torch.randint(0, 10, (B,))
opt = torch.optim.SGD(lenet.parameters(), lr=0.05, momentum=0.9)
report("lenet-5 mnist b128 bp step", B, lambda: sgd_step(lenet, opt, x, y))

# 2. The MLP step of `locus train --algo bp` defaults (benches/mlp_step.rs, last bench):
# 784-1000-1000-10, ReLU, biases, softmax cross-entropy, SGD lr 0.05 momentum 0.9. The shared
# anchor's "bp autograd" is the tanh, plain-SGD step; this one is the same network with
# nn.Linear and torch.optim.SGD, as a PyTorch user would train it.
mlp = nn.Sequential(nn.Linear(784, 1000), nn.ReLU(), nn.Linear(1000, 1000), nn.ReLU(),
                    nn.Linear(1000, 10))
x, y = torch.rand(B, 784) * 2 - 1, torch.randint(0, 10, (B,))
opt = torch.optim.SGD(mlp.parameters(), lr=0.05, momentum=0.9)
report("mlp 784-1000-1000-10 b128 bp step relu momentum (locus train defaults)", B,
       lambda: sgd_step(mlp, opt, x, y))

# 3. Greedy InfoMax on MNIST patches (benches/gim_step.rs; crates/locus-models/src/
# patch_encoder.rs, crates/locus-objectives/src/info_nce_objective.rs): batch 64, the image cut
# into a 6x6 grid of 8x8 patches (stride 4; F.unfold has the channel order of locus's
# Patches), three stages of one 1x1 convolution to 128 channels (with bias) and ReLU, each
# stage's input detached (gradient isolation: no stage computes a gradient for its input).
# Every stage's InfoNCE: for k = 1, 2, 3 a bias-free predictor W_k [128, 128]; the anchors are
# all patches with a patch k rows below (64 * (6 - k) * 6 of them), prediction = z_t W_k, the
# candidates are the patch k rows below (positive, first) and 16 rows drawn uniformly with
# replacement from all 64 * 36 patch representations of the batch other than the positive;
# score = dot product, loss = softmax cross-entropy with the positive as the class, the
# mean over anchors, then the mean over k. The gradient reaches z through all three roles.
# Stages and predictors each under Adam 1e-3 (betas 0.9/0.999, eps 1e-8). Lockstep: every
# stage forward, then every stage learns.
# Not exactly the same: locus scores the candidates by indexing z's rows (no copy); here
# z[candidates] is gathered into [anchors, 17, 128] and scored with a batched product, the
# usual PyTorch way, which copies those rows (and scatter-adds their gradient) - the same
# multiply-adds, more memory traffic. Negatives come from torch.randint, not locus's stream;
# as in locus they are drawn inside the step.
B, C, G, K, NEG = 64, 128, 6, 3, 16
ROWS = B * G * G
x = torch.rand(B, 1, 28, 28)
encoder = [nn.Conv2d(64 if i == 0 else C, C, 1) for i in range(3)]
predictors = [[nn.Linear(C, C, bias=False) for _ in range(K)] for _ in range(3)]
gim_opts = [torch.optim.Adam([*encoder[i].parameters(),
                              *(w for lin in predictors[i] for w in lin.parameters())], lr=1e-3)
            for i in range(3)]
# Row b*36 + t*6 + s of z is patch (t, s) of image b; anchors of step k are t < 6 - k.
anchors = [torch.tensor([b * G * G + t for b in range(B) for t in range((G - k) * G)])
           for k in range(1, K + 1)]


def info_nce(h, stage):
    z = h.permute(0, 2, 3, 1).reshape(ROWS, C)
    loss = 0.0
    for i, k in enumerate(range(1, K + 1)):
        a = anchors[i]
        positive = a + k * G
        r = torch.randint(0, ROWS - 1, (len(a), NEG))
        negative = r + (r >= positive[:, None]).long()
        candidates = torch.cat([positive[:, None], negative], 1)
        prediction = predictors[stage][i](z[a])             # z_t W_k
        scores = (z[candidates] * prediction[:, None, :]).sum(2)
        target = torch.zeros(len(a), dtype=torch.long)
        loss = loss + Fn.cross_entropy(scores, target)
    return loss / K


def gim_step():
    h = Fn.unfold(x, 8, stride=4).reshape(B, 64, G, G)
    losses = []
    for i in range(3):
        h = torch.relu(encoder[i](h.detach()))
        losses.append(info_nce(h, i))
    for o in gim_opts:
        o.zero_grad(set_to_none=True)
    sum(losses).backward()  # the stages' graphs are disjoint: each gets its own gradient
    for o in gim_opts:
        o.step()


report("gim patches mnist b64 3x128 step", B, gim_step)

# 4. Forward-Forward (benches/forward_forward_step.rs; crates/locus-models/src/ff_mlp.rs,
# crates/locus-objectives/src/forward_forward.rs): 100 images with their label one-hot in the
# first 10 pixels, then the same 100 with a wrong label: one pass over 200 rows per stage.
# Every stage: length normalisation x / sqrt(mean(x^2) + 1e-5) (no parameters), Linear with
# bias, ReLU; goodness = sum of squares, theta = width, loss = mean over the 200 rows of
# softplus(theta - g) (positive) or softplus(g - theta) (negative); the stage's input is
# detached; SGD lr 0.001 momentum 0.9 per stage. Lockstep: every stage forward, then learns.
N = 100
data = torch.rand(1000, 784)
labels = torch.randint(0, 10, (1000,))
index = torch.arange(N)


def embed(images, lab):
    out = images.clone()
    out[:, :10] = Fn.one_hot(lab, 10).float()
    return out


def wrong_labels(lab):
    return (lab + torch.randint(1, 10, lab.shape)) % 10


def length_norm(h):
    return h * torch.rsqrt(h.pow(2).mean(1, keepdim=True) + 1e-5)


def ff_network(sizes):
    layers = [nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
    opt = torch.optim.SGD([q for l in layers for q in l.parameters()], lr=0.001, momentum=0.9)
    return layers, opt


def ff_step(layers, opt, inputs):
    h, losses = inputs, []
    for layer in layers:
        h = torch.relu(layer(length_norm(h.detach())))
        margin = h.pow(2).sum(1) - h.shape[1]
        sign = torch.ones_like(margin)
        sign[:N] = -1  # positives want goodness above theta
        losses.append(Fn.softplus(sign * margin).mean())
    opt.zero_grad(set_to_none=True)
    sum(losses).backward()
    opt.step()


lab = labels[index]
batch = torch.cat([embed(data[index], lab), embed(data[index], wrong_labels(lab))])
for name, sizes in [("784-500-500", [784, 500, 500]), ("784-2000x4", [784] + [2000] * 4)]:
    layers, opt = ff_network(sizes)
    report(f"forward-forward b100 {name} step", N, lambda: ff_step(layers, opt, batch))

# The trainer step (ForwardForwardTrainer::train_batch with a read-out): gather the 100
# images, make the positive and wrong-label batch, the step above, then the read-out: the
# stages again (no gradient) on the images with the neutral label (every label pixel 0.1),
# each stage's activity length-normalised, and three softmax heads under Adam 1e-3 (one
# 500 -> 10 Linear per stage and one on the activities of stages 2.. - for two stages, the
# last stage's 500 - as locus's Readout builds them).
layers, opt = ff_network([784, 500, 500])
heads = [nn.Linear(500, 10) for _ in range(3)]
head_opts = [torch.optim.Adam(h.parameters(), lr=1e-3) for h in heads]


def ff_trainer_step():
    images, lab = data[index], labels[index]
    ff_step(layers, opt, torch.cat([embed(images, lab), embed(images, wrong_labels(lab))]))
    with torch.no_grad():
        h, activities = images.clone(), []
        h[:, :10] = 0.1
        for layer in layers:
            h = torch.relu(layer(length_norm(h)))
            activities.append(length_norm(h))
    for head, head_opt, a in zip(heads, head_opts, activities + activities[1:]):
        head_opt.zero_grad(set_to_none=True)
        Fn.cross_entropy(head(a), lab).backward()
        head_opt.step()


report("forward-forward b100 784-500-500 trainer step (negatives, step, read-out)", N,
       ff_trainer_step)
