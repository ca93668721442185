#!/usr/bin/python3
"""PyTorch peer of bench/train/main.go: the same models, data, batch sizes,
optimiser and per-epoch timing, for the nnx/PyTorch comparison of issue 8.

    /usr/bin/python3 bench/train/torch_peer.py --model mlp|cnn --batch N --epochs E \
        [--data DIR] [--json]

Run it with Debian's python3-torch (/usr/bin/python3). Each epoch trains on
all 60,000 training images, shuffled with a seeded torch.Generator, the last
partial batch dropped, then evaluates the 10,000 test images under
torch.no_grad() in batches of 1000. Training and evaluation are timed apart.
Batches are gathered by indexing one in-memory tensor (no DataLoader), the
fastest ordinary PyTorch loop, so nnx is compared with a strong baseline.
"""

import argparse
import glob
import gzip
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn


def status_mb(field):
    """A kB field of /proc/self/status in MiB (0 if absent)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def locate_data():
    """The GoMNIST data directory in the Go module cache (highest version)."""
    cache = os.environ.get("GOMODCACHE")
    if not cache:
        try:
            cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                                   check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            cache = os.path.join(os.path.expanduser("~"), "go", "pkg", "mod")
    pattern = os.path.join(glob.escape(cache), "github.com", "petar", "!go!m!n!i!s!t@*", "data")
    found = sorted(glob.glob(pattern))
    if not found:
        sys.exit(f"torch_peer: MNIST not found at {pattern}; pass --data DIR")
    return found[-1]


def read_idx(path):
    """An IDX file (gzipped or raw) as a numpy uint8 array of its shape."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    if magic >> 8 != 0x08:
        sys.exit(f"torch_peer: {path}: not an unsigned-byte IDX file (magic {magic:#x})")
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(directory):
    """(train x, train y, test x, test y): x float32 (N,1,28,28) pixel/255, y int64."""
    def images(name):
        a = read_idx(os.path.join(directory, name))
        return torch.from_numpy(a.astype(np.float32) / np.float32(255)).unsqueeze(1).contiguous()

    def labels(name):
        return torch.from_numpy(read_idx(os.path.join(directory, name)).astype(np.int64))

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


def build(name):
    if name == "mlp":  # 784-128-128-10
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    if name == "cnn":  # the seed's CNN
        return nn.Sequential(nn.Conv2d(1, 10, 3), nn.ReLU(), nn.BatchNorm2d(10), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(13 * 13 * 10, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    sys.exit(f"torch_peer: --model {name!r}: want mlp or cnn")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.0, help="0: 0.05 for mlp, 0.01 for cnn")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-batch", type=int, default=1000)
    ap.add_argument("--data", default="", help="directory of the four MNIST IDX files")
    ap.add_argument("--json", action="store_true", help="print JSON lines")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    lr = a.lr or (0.05 if a.model == "mlp" else 0.01)
    momentum = 0.9
    directory = a.data or locate_data()

    t0 = time.perf_counter()
    xtr, ytr, xte, yte = load(directory)
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    net = build(a.model)  # PyTorch's default init
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    build_s = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(a.seed)
    n = xtr.shape[0]
    steps = n // a.batch  # the last partial batch is dropped

    def emit(d, text):
        print(json.dumps(d) if a.json else text, flush=True)

    emit({"kind": "setup", "side": "torch", "model": a.model, "batch": a.batch, "epochs": a.epochs, "lr": lr,
          "momentum": momentum, "seed": a.seed, "threads": torch.get_num_threads(), "torch": torch.__version__,
          "data_dir": directory, "train_examples": n, "test_examples": xte.shape[0], "steps_per_epoch": steps,
          "load_s": load_s, "build_s": build_s, "peak_rss_mb": status_mb("VmHWM")},
         f"torch {torch.__version__} {a.model} batch {a.batch} lr {lr} momentum {momentum}, {steps} steps/epoch, "
         f"{torch.get_num_threads()} threads, data {directory} (load {load_s:.2f}s)")

    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for s in range(steps):
            idx = perm[s * a.batch:(s + 1) * a.batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
        train_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        net.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, xte.shape[0], a.eval_batch):
                pred = net(xte[s:s + a.eval_batch]).argmax(1)
                correct += int((pred == yte[s:s + a.eval_batch]).sum())
        eval_s = time.perf_counter() - t0

        acc = 100 * correct / xte.shape[0]
        peak, rss = status_mb("VmHWM"), status_mb("VmRSS")
        emit({"kind": "epoch", "side": "torch", "model": a.model, "batch": a.batch, "epoch": epoch,
              "train_s": train_s, "eval_s": eval_s, "train_loss": loss_sum / steps, "test_acc": acc,
              "peak_rss_mb": peak, "rss_mb": rss},
             f"epoch {epoch}: train {train_s:.2f}s eval {eval_s:.2f}s loss {loss_sum / steps:.4f} "
             f"test {acc:.2f}% peak RSS {peak:.0f} MB (RSS {rss:.0f} MB)")


if __name__ == "__main__":
    main()
