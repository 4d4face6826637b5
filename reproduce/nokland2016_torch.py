#!/usr/bin/env python3
"""A plain PyTorch implementation of the Nøkland (2016) FA/DFA MNIST protocol, the one
`locus train --preset nokland2016` runs (crates/locus-cli/src/presets.rs), as a reference
for locus's figures. One run per call, printed as one JSON line
{"algo", "seed", "test_error_percent", "wall_s", "threads", "torch"}:

    python reproduce/nokland2016_torch.py --algo bp|fa|dfa|usf|brsf|frsf --seed S \
        --data-dir DIR [--threads 1] [--epochs 20]

DIR holds the four MNIST IDX files (gzip-compressed or raw); nothing is downloaded.

The protocol: 784-1000-1000-10 MLP, tanh; weights N(0, 1/fan_in), biases PyTorch's default
U(±1/sqrt(fan_in)) (locus keeps PyTorch's bias initialisation under --init lecun); mean
softmax cross-entropy; SGD momentum 0.9, lr 0.01, batch 128 (the last batch of an epoch
smaller), 20 epochs, no schedule; pixels in [0, 1] standardised with the training split's
mean and population standard deviation (0.1307, 0.3081); test error after the last epoch.

The feedback rules follow locus's definitions (crates/locus-core/src/layers/feedback.rs and
crates/locus-objectives/src/direct_feedback.rs). Each replaces W by B in the backward pass
of every weight layer, dx = dy B, while the weight gradient stays dy^T x:
  fa    B fixed, drawn like the weights, N(0, 1/fan_in);
  usf   B = sign(W) * mean|W|, recomputed from the current W (plain sign(W) would send a
        signal about 40 times larger than backprop's through a 1000-wide layer);
  brsf  B = |M_t| * sign(W) * s, M_t redrawn every batch like the weights;
  frsf  B = |M| * sign(W) * s, M drawn once like the weights;
        s = mean|W| / mean(|M| where W != 0), so B has W's mean magnitude (M's own scale
        cancels);
  dfa   every hidden layer's output h_l gets e B_l with e = d(mean loss)/d(logits)
        = (softmax - onehot) / batch and a fixed B_l [10, 1000] ~ N(0, 1/10); the output
        layer learns from the true gradient, and nothing passes between layers.
The random numbers are PyTorch's, seeded by --seed, so a run does not repeat any locus run
draw for draw; only the distributions match.

wall_s is the training plus the final evaluation, on --threads threads. These runs are for
accuracy; their times depend on what else the machine runs and are not a speed comparison.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

RULES = ["bp", "fa", "dfa", "usf", "brsf", "frsf"]
SIZES = [784, 1000, 1000, 10]


def read_idx(data_dir, name):
    """One IDX file of unsigned bytes as a numpy array of its declared shape."""
    path = os.path.join(data_dir, name)
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            raw = f.read()
    else:
        with open(path, "rb") as f:
            raw = f.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(data_dir):
    x_train = read_idx(data_dir, "train-images-idx3-ubyte").reshape(-1, 784) / 255.0
    y_train = read_idx(data_dir, "train-labels-idx1-ubyte")
    x_test = read_idx(data_dir, "t10k-images-idx3-ubyte").reshape(-1, 784) / 255.0
    y_test = read_idx(data_dir, "t10k-labels-idx1-ubyte")
    mean, std = x_train.mean(), x_train.std()  # training split only; population std
    tensor = lambda x: torch.from_numpy(((x - mean) / std).astype(np.float32))
    label = lambda y: torch.from_numpy(y.astype(np.int64))
    return tensor(x_train), label(y_train), tensor(x_test), label(y_test)


def signed_magnitudes(w, m):
    """|m| * sign(w), rescaled to the mean magnitude of w (zero where w is zero)."""
    m_scale = (m.abs() * (w != 0)).mean()
    return torch.sign(w) * m.abs() * (w.abs().mean() / m_scale)


class FeedbackLinearFunction(torch.autograd.Function):
    """y = x W^T + b whose backward sends dx = dy B, B from the layer's rule."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        ctx.save_for_backward(x, weight)
        ctx.layer = layer
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out @ ctx.layer.feedback_matrix(weight)
        return grad_x, grad_out.t() @ x, grad_out.sum(0), None


class FeedbackLinear(nn.Linear):
    """nn.Linear with N(0, 1/fan_in) weights and a backward rule (bp, fa, usf, brsf, frsf)."""

    def __init__(self, fan_in, fan_out, rule):
        super().__init__(fan_in, fan_out)  # keeps nn.Linear's bias, U(±1/sqrt(fan_in))
        self.rule = rule
        self.std = fan_in ** -0.5
        nn.init.normal_(self.weight, 0.0, self.std)
        if rule == "fa":
            self.register_buffer("B", torch.randn(fan_out, fan_in) * self.std)
        if rule == "frsf":
            self.register_buffer("M", torch.randn(fan_out, fan_in) * self.std)

    def feedback_matrix(self, w):
        if self.rule == "fa":
            return self.B
        if self.rule == "usf":
            return torch.sign(w) * w.abs().mean()
        if self.rule == "brsf":
            return signed_magnitudes(w, torch.randn_like(w) * self.std)
        if self.rule == "frsf":
            return signed_magnitudes(w, self.M)
        raise ValueError(self.rule)

    def forward(self, x):
        if self.rule in ("bp", "dfa"):
            return super().forward(x)
        return FeedbackLinearFunction.apply(x, self.weight, self.bias, self)


class MLP(nn.Module):
    def __init__(self, rule):
        super().__init__()
        self.rule = rule
        self.layers = nn.ModuleList(
            FeedbackLinear(a, b, rule) for a, b in zip(SIZES[:-1], SIZES[1:])
        )
        if rule == "dfa":
            classes = SIZES[-1]
            self.register_buffer(
                "dfa_B", torch.randn(len(SIZES) - 2, classes, SIZES[1]) * classes ** -0.5
            )

    def forward(self, x):
        """The logits and the hidden layers' outputs."""
        hidden = []
        h = x
        for i, layer in enumerate(self.layers):
            if self.rule == "dfa" and i > 0:
                h = h.detach()  # DFA: no gradient passes from one layer to the one below
            a = layer(h)
            if i + 1 < len(self.layers):
                h = torch.tanh(a)
                hidden.append(h)
        return a, hidden


def train_step(model, opt, x, y):
    opt.zero_grad()
    logits, hidden = model(x)
    loss = F.cross_entropy(logits, y)
    if model.rule == "dfa":
        # e = d(mean cross-entropy)/d(logits); each hidden output h_l receives e B_l.
        e = (logits.detach().softmax(1) - F.one_hot(y, logits.shape[1])) / len(y)
        signals = [e @ b for b in model.dfa_B]
        torch.autograd.backward([loss] + hidden, [None] + signals)
    else:
        loss.backward()
    opt.step()
    return loss.item()


@torch.no_grad()
def test_error_percent(model, x, y):
    wrong = 0
    for i in range(0, len(x), 1000):
        logits, _ = model(x[i : i + 1000])
        wrong += (logits.argmax(1) != y[i : i + 1000]).sum().item()
    return 100.0 * wrong / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--algo", choices=RULES, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    x_train, y_train, x_test, y_test = load_mnist(args.data_dir)
    model = MLP(args.algo)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    order = torch.Generator().manual_seed(args.seed)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x_train), generator=order)
        losses = [
            train_step(model, opt, x_train[idx], y_train[idx]) for idx in perm.split(128)
        ]
        print(f"epoch {epoch + 1}: train loss {np.mean(losses):.4f}", file=sys.stderr)
    err = test_error_percent(model, x_test, y_test)
    wall = time.perf_counter() - start
    print(json.dumps({
        "algo": args.algo,
        "seed": args.seed,
        "test_error_percent": round(err, 2),
        "wall_s": round(wall, 1),
        "threads": args.threads,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
