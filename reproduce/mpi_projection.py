"""The projection of reproduce/mpi_projection.sh: stages measured on this machine, run on
the simulated scheduler's virtual clock with a link model, for 4, 8 and 16 stages.

1. Per-stage compute time: one lockstep run per rule of a 784-1000x7-10 MLP (8 stages) on
   MEASURE batches of 64, one thread; a stage's time per batch is its busy fraction times
   the epoch's training time over the batches. Every 1000->1000 stage does the same work,
   so they take the median of the measured hidden stages; the first (784->1000) and the
   last (1000->10) stages keep their own.
2. For K = 4, 8, 16 stages (784-1000x(K-1)-10), the simulated scheduler (its default flow:
   channels of 2, K batches in flight) with those times (in microseconds) and each link
   model: no link cost; and 5 us latency plus bytes / bandwidth at 100, 25 and 10 Gbit/s
   (12500, 3125 and 1250 bytes per us), each stage sending its messages one after another,
   each costing its size in the mpi wire format (book/src/results/cluster/bytes.jsonl).
   The simulated StageTime charges a forward pass f, an update 2f and a late message
   (DNI's gradient-model step) f, so f = t/3 (t/4 for DNI's stages below the top).
   The same again with every stage time divided by 100 (stages on a machine 100 times
   faster than this core, as an accelerator might be), where the link starts to count.
3. Virtual time per batch in the steady state: the difference between two runs, of SHORT
   and LONG batches (the pipeline's filling and draining cancel); lockstep's time per batch
   is the sum of the stage times. Speed-up = lockstep / projected.

Writes projection.jsonl, projection.md and projection.png in OUT. With REPORT_ONLY=1 it
runs nothing and redraws the table and the plot from OUT/projection.jsonl.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

LOCUS, DATA, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
RULES = os.environ.get("RULES", "bp dfa dgl dni").split()
STAGES = [int(k) for k in os.environ.get("STAGE_COUNTS", "4 8 16").split()]
BATCH = 64
MEASURE, SHORT, LONG = 48, 32, 96  # batches: SHORT past the filling of 16 stages
SCALES = [int(x) for x in os.environ.get("COMPUTE_SCALES", "1 100").split()]
LATENCY_US = 5.0
LINKS = [("no link cost", None), ("100 Gbit/s", 12500.0), ("25 Gbit/s", 3125.0),
         ("10 Gbit/s", 1250.0)]


def cut_mnist(source, target, train, test):
    """The first `train` and `test` samples of MNIST as raw IDX files: every run reads
    them, and the evaluation (not what is measured) stays short."""
    import gzip
    for name, n in [("train-images-idx3-ubyte", train), ("train-labels-idx1-ubyte", train),
                    ("t10k-images-idx3-ubyte", test), ("t10k-labels-idx1-ubyte", test)]:
        path = os.path.join(source, name)
        raw = open(path, "rb").read() if os.path.exists(path) else gzip.open(path + ".gz").read()
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        item = 1
        for d in shape[1:]:
            item *= d
        head = raw[:4] + n.to_bytes(4, "big") + raw[8:4 + 4 * dims]
        body = raw[4 + 4 * dims:4 + 4 * dims + n * item]
        open(os.path.join(target, name), "wb").write(head + body)


def train(data, out, rule, stages, batches, scheduler, extra=()):
    hidden = ",".join(["1000"] * (stages - 1))
    cmd = [LOCUS, "train", "--algo", rule, "--dataset", "mnist", "--data-dir", data,
           "--hidden", hidden, "--epochs", "1", "--batch-size", str(BATCH), "--seed", "0",
           "--train-limit", str(batches * BATCH), "--scheduler", scheduler, "--out", out,
           # Small enough that no rule diverges on 16 stages: only the times matter here.
           "--lr", "0.001", *extra]
    env = dict(os.environ, MATMUL_NUM_THREADS="1")
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return json.load(open(os.path.join(out, "results.json")))


def measure(data, tmp, rule):
    """Microseconds per batch of the first, a hidden (median) and the last stage."""
    r = train(data, f"{tmp}/measure-{rule}", rule, 8, MEASURE, "lockstep")
    train_s = r["history"][-1]["train_s"]
    times = [s["busy_fraction"] * train_s / MEASURE * 1e6 for s in r["stages"]]
    assert len(times) == 8, f"{rule}: {len(times)} stages, not 8"
    return times[0], statistics.median(times[1:-1]), times[-1], times


def forward_times(rule, first, hidden, last, stages):
    t = [first] + [hidden] * (stages - 2) + [last]
    # The simulated stage's forward pass f, so that its work per batch is t: f + 2f, and
    # for DNI's stages below the top one late message f more.
    return [x / (4 if rule == "dni" and i < stages - 1 else 3) for i, x in enumerate(t)], t


def virtual_elapsed(r, forward_top, batches):
    """The simulated epoch's length: the top stage is busy f + 2f per batch."""
    top = r["stages"][-1]
    return 3 * forward_top * batches / top["busy_fraction"]


def main():
    tmp = tempfile.mkdtemp(prefix="locus-projection-")
    if os.environ.get("REPORT_ONLY"):
        rows = [json.loads(line) for line in open(os.path.join(OUT, "projection.jsonl"))]
        report(rows, tmp)
        return
    data = os.path.join(tmp, "mnist")
    os.makedirs(data)
    cut_mnist(DATA, data, max(MEASURE, LONG) * BATCH, 256)
    rows = []
    for rule in RULES:
        first, hidden, last, measured = measure(data, tmp, rule)
        print(f"{rule}: stage times (us per batch) {[round(t) for t in measured]}",
              file=sys.stderr)
        for scale in SCALES:
            for k in STAGES:
                forward, t = forward_times(rule, first / scale, hidden / scale, last / scale, k)
                lockstep = sum(t)
                for link, bandwidth in LINKS:
                    if bandwidth is None and scale != SCALES[0]:
                        # Without link costs the speed-up does not depend on the scale.
                        row = next(r for r in rows if r["rule"] == rule and r["stages"] == k
                                   and r["link"] == link)
                        rows.append(dict(row, compute_speedup=scale,
                                         lockstep_us_per_batch=round(lockstep, 1),
                                         projected_us_per_batch=round(lockstep / row["speedup"], 1),
                                         stage_us_per_batch=[round(x, 1) for x in t]))
                        continue
                    flags = ["--stage-time", ",".join(f"{f:.4f}" for f in forward)]
                    if bandwidth is not None:
                        flags += ["--link-delay", str(LATENCY_US), "--link-bandwidth",
                                  str(bandwidth)]
                    elapsed = {}
                    for n in (SHORT, LONG):
                        out = f"{tmp}/{rule}-{k}-{bandwidth}-{n}"
                        r = train(data, out, rule, k, n, "simulated", flags)
                        elapsed[n] = virtual_elapsed(r, forward[-1], n)
                    per_batch = (elapsed[LONG] - elapsed[SHORT]) / (LONG - SHORT)
                    row = {"rule": rule, "stages": k, "compute_speedup": scale, "link": link,
                           "bytes_per_us": bandwidth,
                           "latency_us": 0 if bandwidth is None else LATENCY_US,
                           "lockstep_us_per_batch": round(lockstep, 1),
                           "projected_us_per_batch": round(per_batch, 1),
                           "speedup": round(lockstep / per_batch, 2),
                           "stage_us_per_batch": [round(x, 1) for x in t]}
                    print(json.dumps(row), file=sys.stderr)
                    rows.append(row)
    with open(os.path.join(OUT, "projection.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    report(rows, tmp)


def report(rows, tmp):
    """The table and the plot of `rows`."""
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    stages = sorted(set(r["stages"] for r in rows))
    scales = sorted(set(r["compute_speedup"] for r in rows))
    # The table: one row per rule, stage count and compute speed, one column per link.
    with open(os.path.join(OUT, "projection.md"), "w") as f:
        f.write("| rule | stages | stage compute | " + " | ".join(n for n, _ in LINKS) + " |\n")
        f.write("|---|---:|---|" + "---:|" * len(LINKS) + "\n")
        for scale in scales:
            for rule in rules:
                for k in stages:
                    cells = [f"{r['speedup']:.2f}" for r in rows if r["rule"] == rule
                             and r["stages"] == k and r["compute_speedup"] == scale]
                    speed = "this core" if scale == 1 else f"{scale}x faster"
                    f.write(f"| {rule} | {k} | {speed} | " + " | ".join(cells) + " |\n")
    # The plot, through locus plot-points: one small JSON file per point.
    points = []
    for i, r in enumerate(rows):
        fast = r["compute_speedup"] != 1
        if (r["link"] == "no link cost" and not fast) or (r["link"] == "10 Gbit/s" and fast):
            name = f"{r['rule']}, {r['link']}" + (f", stages {r['compute_speedup']}x faster" if fast else "")
            path = os.path.join(tmp, f"point-{i}.json")
            json.dump({"series": name, "stages": r["stages"],
                       "speedup": r["speedup"]}, open(path, "w"))
            points.append(path)
    subprocess.run([LOCUS, "plot-points", *points, "--out",
                    os.path.join(OUT, "projection.png"), "--x", "stages", "--y", "speedup",
                    "--series", "series", "--axes", "stages (one per machine),"
                    "projected speed-up over lockstep",
                    "--title", "Projected speed-up, MLP 784-1000x(K-1)-10, batch 64"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["rm", "-rf", tmp], check=True)


main()
