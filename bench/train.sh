#!/usr/bin/env bash
# bench/train.sh: nnx's training speed against PyTorch's on the same CPU,
# the same real MNIST, models, batch sizes and optimiser (issue 8).
#
#   bench/train.sh [-r ROUNDS] [-e EPOCHS] [-c "mlp:32 cnn:50 ..."] [--no-install]
#   bench/train.sh --memory [-e EPOCHS]      # nnx's peak RSS per epoch, MLP and CNN (10 epochs)
#   bench/train.sh --gobench                 # go test -bench for one training step of each model
#
# Per case it runs nnx (bench/train, built once; also built with -tags
# openblas when the repository has that tag) and PyTorch
# (bench/train/torch_peer.py under Debian's /usr/bin/python3, 2 threads) in
# turn, ROUNDS times, the side that goes first rotating each round, and
# prints a Markdown table of medians and the nnx/PyTorch ratio. Raw JSON
# lines stay in $OUT (default: a new /tmp/nnx-train-bench.* directory).
#
# Environment (flags win): R rounds (3), E epochs per run (2; --memory: 10),
# CASES, TIMEOUT seconds per run (600 + 300*E), OUT, BIN (/tmp/nnx-train-bench),
# TORCH_ENV (settings for the PyTorch runs, default "OMP_WAIT_POLICY=PASSIVE":
# see bench/README.md), TORCH_DEFAULT (1: also run PyTorch with nothing set,
# as Debian ships it; 0: skip that side), BENCHTIME (--gobench, 2s).
#
# Exit status: 0 every run finished and every goal passed (--memory: flat);
# 1 a run failed or a goal was missed; 2 usage or set-up error.
set -euo pipefail

cd "$(dirname "$0")/.."

R=${R:-3}
E=${E:-}
CASES=${CASES:-"mlp:32 mlp:50 mlp:128 cnn:50 cnn:128"}
BIN=${BIN:-/tmp/nnx-train-bench}
TORCH_ENV=${TORCH_ENV-OMP_WAIT_POLICY=PASSIVE}
TORCH_DEFAULT=${TORCH_DEFAULT:-1}
BENCHTIME=${BENCHTIME:-2s}
PY=/usr/bin/python3
MODE=speed
INSTALL=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
while (($#)); do
	case $1 in
	-r | --rounds) R=$2; shift ;;
	-e | --epochs) E=$2; shift ;;
	-c | --cases) CASES=$2; shift ;;
	--memory) MODE=memory ;;
	--gobench) MODE=gobench ;;
	--no-install) INSTALL=0 ;;
	-h | --help) usage ;;
	*) echo "train.sh: unknown argument $1" >&2; usage ;;
	esac
	shift
done
if [[ -z $E ]]; then
	if [[ $MODE == memory ]]; then E=10; else E=2; fi
fi
TIMEOUT=${TIMEOUT:-$((600 + 300 * E))}
if [[ $MODE != gobench ]]; then
	OUT=${OUT:-$(mktemp -d /tmp/nnx-train-bench.XXXXXX)}
	mkdir -p "$OUT"
fi

# The openblas variant, when the repository has a build tag for it.
TAGS=()
if grep -rlq '^//go:build.*\bopenblas\b' pkg/ 2>/dev/null; then
	TAGS=(openblas)
fi

# What we need: PyTorch from Debian for the peer (never installed in CI;
# CI doesn't run benchmarks), libopenblas-dev for an openblas build.
need_pkg() { # need_pkg PACKAGE: install a Debian package if missing and allowed
	dpkg -s "$1" >/dev/null 2>&1 && return 0
	if ((INSTALL)) && [[ -z ${CI:-} ]] && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		echo "installing $1" >&2
		apt-get install -y "$1" >/dev/null || { apt-get update >/dev/null && apt-get install -y "$1" >/dev/null; }
	else
		return 1
	fi
}
if [[ $MODE == speed ]] && ! "$PY" -c 'import torch' 2>/dev/null; then
	need_pkg python3-torch || { echo "train.sh: $PY cannot import torch: apt-get install -y python3-torch" >&2; exit 2; }
fi
if ((${#TAGS[@]})); then
	need_pkg libopenblas-dev || echo "train.sh: libopenblas-dev missing; the openblas build may fail" >&2
fi

# Build once.
SIDES=()
if [[ $MODE != gobench ]]; then
	go build -o "$BIN" ./bench/train || { echo "train.sh: go build ./bench/train failed" >&2; exit 2; }
	SIDES=(nnx)
	for t in "${TAGS[@]}"; do
		if go build -tags "$t" -o "$BIN-$t" ./bench/train; then
			SIDES+=("nnx-$t")
		else
			echo "train.sh: go build -tags $t failed; skipping that variant" >&2
		fi
	done
fi
DATA=
if [[ $MODE != gobench ]]; then
	DATA=$("$BIN" -print-data-dir)
fi

header() {
	local torch
	torch=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)
	echo "# nnx training benchmark ($MODE), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet HEAD -- pkg 2>/dev/null || echo ' (pkg/ modified)')"
	echo "# cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), nproc $(nproc); $(go version | cut -d' ' -f3-4); torch $torch ($PY)"
	echo "# load average (1, 5, 15 min) before: $(cut -d' ' -f1-3 /proc/loadavg)"
	[[ $MODE == gobench ]] && return
	if [[ $MODE == speed ]]; then
		echo "# rounds $R, epochs $E, timeout ${TIMEOUT}s per run, nnx builds: ${SIDES[*]}, torch env: ${TORCH_ENV:-none}"
	else
		echo "# epochs $E, timeout ${TIMEOUT}s per run, nnx builds: ${SIDES[*]}"
	fi
	echo "# data: ${DATA:-?}"
	echo "# raw JSON lines: $OUT"
}

status=0

# run_side SIDE MODEL BATCH EPOCHS SEED FILE: one run of one side, JSON
# lines to FILE. Round r uses seed r on both sides (weights and shuffles),
# so the accuracy averaged over rounds averages over seeds too.
run_side() {
	local side=$1 model=$2 batch=$3 epochs=$4 seed=$5 file=$6 rc=0
	local -a cmd
	case $side in
	nnx) cmd=("$BIN") ;;
	nnx-*) cmd=("$BIN-${side#nnx-}") ;;
	torch | torch-default)
		local -a tenv=()
		[[ $side == torch ]] && read -ra tenv <<<"$TORCH_ENV"
		cmd=(env "${tenv[@]}" "$PY" bench/train/torch_peer.py --threads 2)
		;;
	esac
	if [[ $side == torch* ]]; then
		cmd+=(--model "$model" --batch "$batch" --epochs "$epochs" --seed "$seed" --json ${DATA:+--data "$DATA"})
	else
		cmd+=(-model "$model" -batch "$batch" -epochs "$epochs" -seed "$seed" -json)
	fi
	timeout "$TIMEOUT" "${cmd[@]}" >"$file" 2>"$file.err" || rc=$?
	if ((rc)); then
		echo "  $side $model b$batch: FAILED (exit $rc$( ((rc == 124)) && echo ", timed out after ${TIMEOUT}s")); see $file.err" >&2
		status=1
	fi
	"$PY" bench/train/summarize.py progress "$file" >&2 || true
}

case $MODE in
gobench)
	header
	for t in "" "${TAGS[@]}"; do
		echo "## go test -bench Step ./pkg/engine ${t:+-tags $t}"
		go test ${t:+-tags "$t"} -run '^$' -bench 'BenchmarkStep' -benchtime "$BENCHTIME" ./pkg/engine || status=1
	done
	;;
memory)
	header
	for c in mlp:32 cnn:50; do
		m=${c%%:*} b=${c##*:}
		for side in "${SIDES[@]}"; do
			echo "running $side $m b$b for $E epochs" >&2
			run_side "$side" "$m" "$b" "$E" 1 "$OUT/memory-$m-b$b.$side.jsonl"
		done
	done
	"$PY" bench/train/summarize.py memory "$OUT" || status=1
	;;
speed)
	header
	for c in $CASES; do
		m=${c%%:*} b=${c##*:}
		if [[ $m != mlp && $m != cnn ]] || ! [[ $b =~ ^[0-9]+$ ]]; then
			echo "train.sh: bad case $c (want mlp:N or cnn:N)" >&2
			exit 2
		fi
		all=("${SIDES[@]}" torch)
		((TORCH_DEFAULT)) && all+=(torch-default)
		for ((r = 1; r <= R; r++)); do
			for ((k = 0; k < ${#all[@]}; k++)); do
				side=${all[$(((k + r - 1) % ${#all[@]}))]}
				echo "round $r/$R: $side $m b$b, $E epochs (load $(cut -d' ' -f1 /proc/loadavg))" >&2
				run_side "$side" "$m" "$b" "$E" "$r" "$OUT/$m-b$b.$side.$r.jsonl"
			done
		done
	done
	echo
	"$PY" bench/train/summarize.py speed "$OUT" || status=1
	;;
esac
echo "# load average (1, 5, 15 min) after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
