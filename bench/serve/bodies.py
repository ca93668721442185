#!/usr/bin/python3
"""Writes N seed-shaped /api/neural bodies, one per line, from the real MNIST
test images: {"gridValues": 28 rows of 28 pixels 0..255, "method": 0}.

Usage: bodies.py T10K_IMAGES_IDX3_UBYTE[.gz] N
"""
import gzip
import json
import struct
import sys

path, n = sys.argv[1], int(sys.argv[2])
with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
    magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
    assert magic == 2051 and rows == cols == 28, (magic, rows, cols)
    for _ in range(min(n, count)):
        px = f.read(rows * cols)
        grid = [list(px[r * cols : (r + 1) * cols]) for r in range(rows)]
        print(json.dumps({"gridValues": grid, "method": 0}, separators=(",", ":")))
