#!/usr/bin/env bash
# The GATEWAY_UP contract of the shared side-by-side benchmark:
#   bench/gateway-up.sh LISTEN_PORT UPSTREAM_HOST:PORT
# Starts the release build of Banyan in the background on 127.0.0.1:LISTEN_PORT, routing
# every path to UPSTREAM with $GATEWAY_WORKERS runtime worker threads, prints its PID, returns.
set -euo pipefail
port=${1:?usage: gateway-up.sh LISTEN_PORT UPSTREAM_HOST:PORT}
upstream=${2:?usage: gateway-up.sh LISTEN_PORT UPSTREAM_HOST:PORT}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${GATEWAY_WORK_DIR:-$(mktemp -d)}
bin="$root/target/release/banyan"
if [[ ! -x "$bin" ]]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p banyan >&2
fi
config="$work/banyan-bench.yaml"
"$root/bench/config.sh" "$port" "$upstream" > "$config"
RUST_LOG=warn nohup "$bin" run -c "$config" --workers "${GATEWAY_WORKERS:-1}" --no-watch \
  > "$work/banyan.log" 2>&1 < /dev/null &
echo $!
