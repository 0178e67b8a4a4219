#!/usr/bin/env bash
# The benchmark config: bench/config.sh LISTEN_PORT UPSTREAM_HOST:PORT prints a config that
# routes every path on 127.0.0.1:LISTEN_PORT to UPSTREAM, with no admin listener.
set -euo pipefail
port=${1:?usage: config.sh LISTEN_PORT UPSTREAM_HOST:PORT}
upstream=${2:?usage: config.sh LISTEN_PORT UPSTREAM_HOST:PORT}
cat <<YAML
listeners:
  - { name: bench, address: "127.0.0.1:$port" }
admin: { enabled: false }
services:
  - name: upstream
    endpoints: [{ url: "http://$upstream" }]
routes:
  - name: everything
    match: { path: "/{*rest}" }
    service: upstream
YAML
