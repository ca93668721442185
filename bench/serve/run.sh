#!/usr/bin/env bash
# bench/serve/run.sh [BUNDLE]: wrk against `nnx serve` and against a Flask
# server of the seed's shape (bench/serve/flask_server.py, a torch MLP loaded
# from the same bundle), one after the other in one run, both on loopback.
# Requests are the seed's: POST /api/neural with one real MNIST test image
# as 28 rows of 28 pixels. BUNDLE must be an MLP bundle (default
# results/mlp-sweep/best). Needs Go and Debian's wrk, python3-flask and
# python3-torch (apt-get install -y wrk python3-flask python3-torch).
#
# Environment: DURATION (10s), CONNECTIONS (16), THREADS (wrk's threads: 1,
# so that on a 2-core machine wrk has one core and the server the other;
# see bench/README.md), WARMUP (3s),
# ROUNDS (3: each round runs every server once, in turn),
# NNX_PORT (18080), FLASK_PORT (18081); PIN, a command prefix for every
# process (e.g. "taskset -c 0,1" to hold a bigger machine to 2 cores); NNX
# (a built nnx binary; default: go build), WRK (wrk), PYTHON
# (/usr/bin/python3) and BODIES (request bodies, one per line; default:
# the first 100 MNIST test images from the Go module cache).
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:-results/mlp-sweep/best}
duration=${DURATION:-10s}
conns=${CONNECTIONS:-16}
threads=${THREADS:-1}
warmup=${WARMUP:-3s}
rounds=${ROUNDS:-3}
nnx_port=${NNX_PORT:-18080}
flask_port=${FLASK_PORT:-18081}

pin=${PIN:-}
wrk=${WRK:-wrk}
python=${PYTHON:-/usr/bin/python3}
for tool in "$wrk" curl "$python"; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing: apt-get install -y wrk curl python3-flask python3-torch" >&2; exit 1; }
done
[ -f "$bundle/manifest.json" ] || { echo "run.sh: $bundle is not a bundle (no manifest.json); run nnx run first or pass one" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

nnx=${NNX:-}
if [ -z "$nnx" ]; then
  nnx="$tmp/nnx"
  go build -o "$nnx" ./cmd/nnx
fi
if [ -z "${BODIES:-}" ]; then
  found=("$(go env GOMODCACHE)"/github.com/petar/\!go\!m\!n\!i\!s\!t@*/data/t10k-images-idx3-ubyte.gz)
  images=${found[-1]}
  "$python" bench/serve/bodies.py "$images" 100 >"$tmp/bodies.jsonl"
  BODIES="$tmp/bodies.jsonl"
fi
export BODIES

# wait_up PORT: until the server answers a request.
wait_up() {
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @<(head -1 "$BODIES") "http://127.0.0.1:$1/api/neural"; then
      return 0
    fi
    sleep 0.1
  done
  echo "run.sh: the server on port $1 did not come up" >&2
  return 1
}

# bench NAME PORT ROUND: one answer, a warm-up, then the measured wrk run.
bench() {
  local answer
  answer=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @<(head -1 "$BODIES") "http://127.0.0.1:$2/api/neural")
  echo "$1 (round $3): first test image -> $answer"
  $pin "$wrk" -t"$threads" -c"$conns" -d"$warmup" -s bench/serve/post.lua "http://127.0.0.1:$2" >/dev/null
  $pin "$wrk" -t"$threads" -c"$conns" -d"$duration" --latency -s bench/serve/post.lua "http://127.0.0.1:$2" >"$tmp/$1.$3.wrk"
  grep -E 'Non-2xx|Socket errors' "$tmp/$1.$3.wrk" || true
  grep '^RESULT' "$tmp/$1.$3.wrk" | sed "s/^RESULT/  $1/"
}

echo "machine: $(${pin:-} nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $("$nnx" --version), torch $("$python" -c 'import torch; print(torch.__version__)')"
echo "other load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load average before the run)"
echo "${pin:+$pin }wrk -t$threads -c$conns -d$duration --latency -s bench/serve/post.lua, bundle $bundle, $rounds round(s)"

# Each round: nnx twice, as it starts by default (Go code on every core)
# and with --procs 1, which leaves wrk its core (see bench/README.md),
# then Flask.
for ((r = 1; r <= rounds; r++)); do
  for name in nnx nnx-1p; do
    procs=()
    if [ "$name" = nnx-1p ]; then procs=(--procs 1); fi
    $pin "$nnx" serve "$bundle" --addr "127.0.0.1:$nnx_port" "${procs[@]}" >"$tmp/$name.log" 2>&1 &
    pid=$!
    wait_up "$nnx_port"
    bench "$name" "$nnx_port" "$r"
    kill -TERM "$pid"; wait "$pid" || true; pid=
  done
  $pin "$python" bench/serve/flask_server.py "$bundle" "$flask_port" >"$tmp/flask.log" 2>&1 &
  pid=$!
  wait_up "$flask_port"
  bench flask "$flask_port" "$r"
  kill -TERM "$pid"; wait "$pid" || true; pid=
done

# field NAME ROUND KEY: a value from a RESULT line.
field() { sed -n "s/^RESULT.* $3=\([0-9.]*\).*/\1/p" "$tmp/$1.$2.wrk"; }
# stat NAME KEY median|min|max: over the rounds.
stat() {
  for ((r = 1; r <= rounds; r++)); do field "$1" "$r" "$2"; done | sort -g |
    awk -v how="$3" '{ v[NR] = $1 } END { if (how == "min") print v[1]; else if (how == "max") print v[NR]; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
printf '%-8s %12s %10s %12s %12s %12s\n' server "requests/s" "p50 ms" "p99 ms" "p99 best" "p99 worst"
for name in nnx nnx-1p flask; do
  printf '%-8s %12.0f %10.3f %12.3f %12.3f %12.3f\n' "$name" "$(stat "$name" rps median)" "$(stat "$name" p50_ms median)" \
    "$(stat "$name" p99_ms median)" "$(stat "$name" p99_ms min)" "$(stat "$name" p99_ms max)"
done
echo "(medians over $rounds round(s); best and worst p99 of the rounds)"
for name in nnx nnx-1p; do
  awk -v n="$name" -v a="$(stat "$name" rps median)" -v b="$(stat flask rps median)" 'BEGIN { printf "%s / flask: %.1fx the requests per second\n", n, a / b }'
done
