#!/usr/bin/env bash
# Builds target/release/banyan with profile-guided optimisation (PGO):
#   1. an instrumented build, in target/pgo/;
#   2. training runs: that build proxies a mix of traffic to itself on loopback, driven by curl,
#      once on a single-threaded runtime and once on a multi-threaded one;
#   3. the release build, optimised with the profile the training run wrote.
# PGO lays out the request path's hot code together and its cold code apart; see the
# "Release builds" section of docs/operations.md for what it buys.
#
# Needs curl and the toolchain's llvm-profdata (`rustup component add llvm-tools`, which this
# script tries). Without them it says so and makes a plain `cargo build --release`. Flags of
# your own in RUSTFLAGS are not used by this build.
# The training listens on 127.0.0.1:$PGO_PORT and the port after it (default 29190).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [[ ! -x $profdata ]]; then
  rustup component add llvm-tools >&2 || true
fi
if [[ ! -x $profdata ]] || ! command -v curl >/dev/null; then
  echo "release-build: llvm-profdata or curl is missing; building without a profile" >&2
  exec cargo build --release --locked -p banyan
fi

work="$root/target/pgo"
rm -rf "$work/profiles" "$work/train"
mkdir -p "$work/profiles" "$work/train"

echo "== 1/3 instrumented build" >&2
# The same cargo invocation as step 3 but for the flags and the target directory: with
# --target in one build and not the other, the crates' symbols differ and the profile matches
# nothing. Build scripts are instrumented too; their profiles are merged and unused.
CARGO_ENCODED_RUSTFLAGS="-Cprofile-generate=$work/profiles" CARGO_TARGET_DIR="$work/target" \
  cargo build --release --locked -p banyan

echo "== 2/3 training runs" >&2
front=${PGO_PORT:-29190}
origin=$((front + 1))
"$root/bench/train-config.sh" "$front" "$origin" > "$work/train/banyan.yaml"
bin="$work/target/release/banyan"
"$bin" validate -c "$work/train/banyan.yaml" >&2
head -c 65536 /dev/zero > "$work/train/upload"
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null' EXIT

# One training run on WORKERS runtime threads.
train() {
  local workers=$1 log="$work/train/banyan-$1.log"
  "$bin" run -c "$work/train/banyan.yaml" --workers "$workers" --no-watch > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$origin/small/up" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  curl -sf -o /dev/null "http://127.0.0.1:$origin/small/up" || {
    echo "release-build: the training gateway did not start; see $log" >&2
    exit 1
  }
  local f="http://127.0.0.1:$front"
  # --fail: a training request that is refused stops the build, rather than train the refusal.
  local get=(curl -sS --fail --no-progress-meter -o /dev/null -H "x-train: 1" --parallel
    --parallel-max 32)
  local post=("${get[@]}" --data-binary "@$work/train/upload")
  # The mix, by weight: small GETs, 16 KiB responses, 64 KiB uploads and path rewrites, each to
  # an HTTP/1.1 upstream and to an HTTP/2 one (/h2/...: the gateway's HTTP/2 client talking to
  # its own HTTP/2 server), and answers the gateway makes itself (no route, an escaping path).
  # Clients speak HTTP/1.1: curl cannot reuse a prior-knowledge HTTP/2 connection before 8.x,
  # and the /h2/ routes train the HTTP/2 server through the origin listener.
  "${get[@]}" "$f/small/[1-40000]"
  "${get[@]}" "$f/h2/small/[1-40000]"
  "${get[@]}" "$f/invoices/[1-10000]"
  "${get[@]}" "$f/big?[1-10000]"
  "${get[@]}" "$f/h2/big?[1-10000]"
  "${post[@]}" "$f/upload?[1-2000]"
  "${post[@]}" "$f/h2/upload?[1-2000]"
  curl -sS --no-progress-meter -o /dev/null --parallel --parallel-max 8 "$f/nowhere/[1-2000]"
  curl -sS --no-progress-meter -o /dev/null --parallel --parallel-max 8 --path-as-is \
    "$f/a/%2e%2e/[1-2000]"
  # A clean exit writes the profile.
  kill -TERM "$pid"
  wait "$pid" || {
    echo "release-build: the training gateway failed to stop cleanly; see $log" >&2
    exit 1
  }
  pid=
}
# The single-threaded runtime (one worker, as the benchmark runs it) and the multi-threaded
# one (the default: a worker per core), so that neither's scheduler is laid out as cold code.
train 1
train 2
"$profdata" merge -o "$work/banyan.profdata" "$work/profiles"
# A profile that names none of the gateway's functions would build a plain binary, silently.
# (grep reads it all: with -q, an early exit would fail the pipeline on SIGPIPE.)
"$profdata" show --all-functions "$work/banyan.profdata" | grep -c banyan_proxy > /dev/null || {
  echo "release-build: the training profile holds nothing of banyan_proxy" >&2
  exit 1
}

echo "== 3/3 optimised build" >&2
CARGO_ENCODED_RUSTFLAGS="-Cprofile-use=$work/banyan.profdata" CARGO_TARGET_DIR="$root/target" \
  cargo build --release --locked -p banyan
echo "release-build: target/release/banyan, optimised with the training profile" >&2
