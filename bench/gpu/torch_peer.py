#!/usr/bin/env python3
"""PyTorch on the GPU, the peer of bench/gpu/main.go: the seed's MLP
(784-128-128-10) or CNN, real MNIST, SGD with momentum 0.9 (lr 0.05 MLP,
0.01 CNN), PyTorch's default init, one line of JSON per epoch.

    python3 bench/gpu/torch_peer.py --model mlp|cnn --batch N --epochs E [--device cuda|cpu] [--data DIR]

The whole data set lives on the device; each epoch trains on all 60,000
training images in a seeded shuffle (the last partial batch dropped), then
evaluates the 10,000 test images in batches of 1000. Timings end with
torch.cuda.synchronize(). The loss is summed on the device and read once an
epoch, so the loop never waits for the GPU: the fastest ordinary eager loop.
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    """An IDX file (gzipped or raw) as a numpy uint8 array of its shape."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def build(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 10, 3), nn.ReLU(), nn.BatchNorm2d(10), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(13 * 13 * 10, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data", default=os.environ.get("NNX_DATA", ""))
    a = ap.parse_args()
    if not a.data:
        sys.exit("torch_peer: pass --data DIR or set NNX_DATA")
    dev = torch.device(a.device)
    torch.manual_seed(a.seed)

    def images(name):
        x = read_idx(os.path.join(a.data, name)).astype(np.float32) / np.float32(255)
        return torch.from_numpy(x).unsqueeze(1).to(dev)

    def labels(name):
        return torch.from_numpy(read_idx(os.path.join(a.data, name)).astype(np.int64)).to(dev)

    xtr, ytr = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
    xte, yte = images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")
    lr = 0.05 if a.model == "mlp" else 0.01
    net = build(a.model).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator(device=dev).manual_seed(a.seed)
    n = xtr.shape[0]
    steps = n // a.batch
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(json.dumps({"kind": "setup", "side": "torch", "device": a.device, "name": name, "torch": torch.__version__,
                      "cuda": torch.version.cuda, "model": a.model, "batch": a.batch, "lr": lr,
                      "steps_per_epoch": steps, "threads": torch.get_num_threads()}), flush=True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for epoch in range(1, a.epochs + 1):
        sync()
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(n, generator=gen, device=dev)
        loss_sum = torch.zeros((), device=dev)
        for s in range(steps):
            idx = perm[s * a.batch:(s + 1) * a.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        sync()
        train_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        net.eval()
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        with torch.no_grad():
            for s in range(0, xte.shape[0], 1000):
                correct += (net(xte[s:s + 1000]).argmax(1) == yte[s:s + 1000]).sum()
        acc = 100 * int(correct) / xte.shape[0]
        sync()
        eval_s = time.perf_counter() - t0
        print(json.dumps({"kind": "epoch", "side": "torch", "device": a.device, "model": a.model, "batch": a.batch,
                          "epoch": epoch, "train_s": train_s, "eval_s": eval_s,
                          "train_loss": float(loss_sum) / steps, "test_acc": acc}), flush=True)


if __name__ == "__main__":
    main()
