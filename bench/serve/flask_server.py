#!/usr/bin/python3
"""The Flask peer for bench/serve/run.sh: a server of the seed project's
shape (Flask, a torch MLP, POST /api/neural -> ["<digit>", "<confidence>"],
CORS open) loading the same weights as nnx serve from an nnx bundle.

Usage: flask_server.py BUNDLE PORT   (listens on 127.0.0.1 only)
"""
import json
import struct
import sys

import torch
from flask import Flask, jsonify, request


def load_safetensors(path):
    """Reads F32 tensors from a safetensors file with the standard library."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = memoryview(data)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(body[a:b]), dtype=torch.float32).reshape(info["shape"])
    return out


def build_mlp(bundle):
    """The bundle's MLP (flatten, dense, relu, tanh, sigmoid) as torch layers."""
    with open(f"{bundle}/manifest.json") as f:
        manifest = json.load(f)
    weights = load_safetensors(f"{bundle}/weights.safetensors")
    layers, dense = [], 0
    for layer in manifest["architecture"]["layers"]:
        kind = layer["kind"]
        if kind == "flatten":
            layers.append(torch.nn.Flatten())
        elif kind == "dense":
            w = weights[f"dense{dense}.weight"]  # nnx: [in, out], used as x @ W
            lin = torch.nn.Linear(w.shape[0], w.shape[1])
            lin.weight.data = w.t().contiguous()
            lin.bias.data = weights[f"dense{dense}.bias"].reshape(-1)
            layers.append(lin)
            dense += 1
        elif kind == "relu":
            layers.append(torch.nn.ReLU())
        elif kind == "tanh":
            layers.append(torch.nn.Tanh())
        elif kind == "sigmoid":
            layers.append(torch.nn.Sigmoid())
        else:
            sys.exit(f"flask_server.py: layer {kind} is not supported; give it an MLP bundle")
    return torch.nn.Sequential(*layers).eval()


bundle, port = sys.argv[1], int(sys.argv[2])
model = build_mlp(bundle)
app = Flask(__name__)


@app.route("/api/neural", methods=["POST"])
def neural():
    data = request.get_json()
    grid = torch.tensor(data["gridValues"], dtype=torch.float32).reshape(1, 1, 28, 28) / 255
    with torch.no_grad():
        probs = torch.softmax(model(grid), dim=1)[0]
    confidence, digit = torch.max(probs, 0)
    response = jsonify([str(digit.item()), str(confidence.item())])
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=port, threaded=True)
