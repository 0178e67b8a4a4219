#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: a figure that does not drift with the
# machine's load, for comparing two builds of the request path.
#   bench/instructions.sh UPSTREAM_HOST:PORT [h1|h2] [BINARY]
# Runs the gateway under valgrind twice (N1 and N2 requests, h2load with 10 connections, or 2
# connections of 10 streams for h2c), and prints (I(N2) - I(N1)) / (N2 - N1), which leaves out
# start-up. Needs valgrind and h2load (nghttp2-client). Loopback only; every run is bounded.
set -euo pipefail
upstream=${1:?usage: instructions.sh UPSTREAM_HOST:PORT [h1|h2] [BINARY]}
mode=${2:-h1}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${3:-$root/target/release/banyan}
n1=${N1:-2000}
n2=${N2:-12000}
port=${PORT:-29704}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/bench/config.sh" "$port" "$upstream" > "$work/config.yaml"

count() {
  local n=$1
  rm -f "$work"/cg.out.*
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out.%p" \
    "$bin" run -c "$work/config.yaml" --workers 1 --no-watch > "$work/gateway.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.2
  done
  if [[ $mode == h2 ]]; then
    timeout 300 h2load -n "$n" -c 2 -m 10 "http://127.0.0.1:$port/" > "$work/load.txt"
  else
    timeout 300 h2load --h1 -n "$n" -c 10 "http://127.0.0.1:$port/" > "$work/load.txt"
  fi
  grep -q "$n succeeded" "$work/load.txt" || { cat "$work/load.txt" >&2; kill -INT "$pid"; exit 1; }
  kill -INT "$pid"
  wait "$pid" || true
  callgrind_annotate "$work"/cg.out.* 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

a=$(count "$n1")
b=$(count "$n2")
echo "$mode: $(( (b - a) / (n2 - n1) )) instructions per request ($n1 and $n2 requests: $a, $b)"
