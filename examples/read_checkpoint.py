"""Reads a locus checkpoint (`locus train --save-state DIR`) without locus.

    python3 examples/read_checkpoint.py DIR/checkpoint.safetensors

The file is a safetensors file: with the `safetensors` package,
`safetensors.numpy.load_file(path)` (or `safetensors.torch.load_file`) gives the same
dictionary. This script needs only NumPy, to show the layout: an 8-byte little-endian
header length, a JSON header (name -> dtype, shape, byte offsets; `__metadata__` holds the
run's manifest), then the raw little-endian data. Weight matrices are in PyTorch's
[out, in] layout, so `torch.nn.Linear(in, out).weight` takes them as they are.
"""

import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "U64": np.uint64}


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=DTYPES[info["dtype"]])
        tensors[name] = array.reshape(info["shape"])
    return tensors, json.loads(meta["manifest"])


if __name__ == "__main__":
    tensors, manifest = load(sys.argv[1])
    print(f"{manifest['algorithm']}: {manifest['epochs_done']} epochs done")
    for name, t in sorted(tensors.items()):
        if ".module." in name:
            print(f"{name}: {t.dtype} {list(t.shape)}")
