#!/usr/bin/env bash
# The training config of scripts/release-build.sh:
#   bench/train-config.sh FRONT_PORT ORIGIN_PORT
# prints a config whose `front` listener on 127.0.0.1:FRONT_PORT proxies to its own `origin`
# listener on 127.0.0.1:ORIGIN_PORT, over HTTP/1.1 and (under /h2/) HTTP/2, where the gateway
# answers itself: 100 bytes on /small/..., 16 KiB on /big, 201 to a POST on /upload. Only
# requests with an `x-train` header are routed on `front`, so others train the 404.
set -euo pipefail
front=${1:?usage: train-config.sh FRONT_PORT ORIGIN_PORT}
origin=${2:?usage: train-config.sh FRONT_PORT ORIGIN_PORT}
small=$(head -c 100 /dev/zero | tr '\0' s)
big=$(head -c 16384 /dev/zero | tr '\0' x)
cat <<YAML
listeners:
  - { name: front, address: "127.0.0.1:$front" }
  - { name: origin, address: "127.0.0.1:$origin" }
admin: { enabled: false }
services:
  - name: origin
    endpoints: [{ url: "http://127.0.0.1:$origin" }]
  - name: origin-h2
    protocol: http2
    endpoints: [{ url: "http://127.0.0.1:$origin" }]
routes:
  - name: over-h2
    listeners: [front]
    match: { path: "/h2/{*rest}" }
    service: origin-h2
    rewrite: { strip_prefix: /h2 }
  - name: invoice
    listeners: [front]
    match: { methods: [GET], path: "/invoices/{id}" }
    service: origin
    rewrite: { path: "/small/{id}" }
  - name: everything
    listeners: [front]
    match: { path: "/{*rest}", headers: [{ name: x-train, present: true }] }
    service: origin
  - name: small
    listeners: [origin]
    match: { path: "/small/{*rest}" }
    respond: { body: "$small" }
  - name: big
    listeners: [origin]
    match: { path: "/big" }
    respond: { body: "$big" }
  - name: upload
    listeners: [origin]
    match: { methods: [POST], path: "/upload" }
    respond: { status: 201 }
YAML
