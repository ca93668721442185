#!/bin/bash
# bench/gpu/run.sh: the GPU check and benchmark of issue 7, run on an NVIDIA
# machine from the repository root. It needs what bench/gpu/build.sh puts
# in .gpu/ (the CUDA build's engine tests and bench/train, gzipped, and MNIST),
# and python3 with PyTorch. It writes logs and JSON lines to $OUT (default
# /tmp/nnx-gpu): tests.log, bench.jsonl.
#
#	bench/gpu/run.sh [quick]
set -u
OUT=${OUT:-/tmp/nnx-gpu}
mkdir -p "$OUT"
export NNX_DATA=${NNX_DATA:-$PWD/.gpu/mnist}
for f in engine.test bench; do
	[ -f .gpu/$f.gz ] && gunzip -c .gpu/$f.gz >/tmp/nnx-$f && chmod +x /tmp/nnx-$f
done
log() { echo "== $*" | tee -a "$OUT/run.log"; }

log machine
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc; uname -r
  ldconfig -p | grep -E 'libcudart|libcublas|libcuda\.so|libnvidia-ml' | head
  ls -d /usr/local/cuda*/lib64 2>/dev/null
  python3 -c 'import torch, nvidia; print("torch", torch.__version__, "cuda", torch.version.cuda, list(nvidia.__path__))'
} 2>&1 | tee -a "$OUT/run.log"

log tests
timeout 300 /tmp/nnx-engine.test -test.count=1 -test.v 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT)' | tee "$OUT/tests.log" | grep -Ev '^\s+--- PASS|^--- PASS: Test[A-Z][a-zA-Z]+/' | tail -40
[ "${1:-}" = quick ] && exit 0

# Each run gets at most 240 s, and none starts after $BUDGET seconds (the
# device tool stops a command at 600 s); the most wanted come first.
BUDGET=${BUDGET:-500}
bench() {
	if [ $SECONDS -gt "$BUDGET" ]; then log "skipped (time): $*"; return; fi
	timeout 240 "$@" 2>>"$OUT/run.log" | tee -a "$OUT/bench.jsonl"
}
log bench
for m in mlp cnn; do
	for b in 50 128; do
		bench /tmp/nnx-bench -json -device cuda -model $m -batch $b -epochs 2
		bench /tmp/nnx-bench -json -device cpu -model $m -batch $b -epochs 2
		bench python3 bench/gpu/torch_peer.py --device cuda --model $m --batch $b --epochs 2
	done
done
for m in mlp cnn; do
	for b in 50 128; do
		NNX_CUDA_MIN_MACS=0 bench /tmp/nnx-bench -json -device cuda -model $m -batch $b -epochs 1
		bench python3 bench/gpu/torch_peer.py --device cpu --model $m --batch $b --epochs 1
	done
done
log done
