#!/usr/bin/env bash
# Starts the fake WeChat and Caddy with the root Caddyfile; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export WX_APPID=${WX_APPID:-wx0123456789abcdef}
export WX_SECRET=${WX_SECRET:-wxmock-demo-secret}
mkdir -p bin
go build -o bin/caddy ./cmd/caddy
go build -o bin/wxmock ./cmd/wxmock
bin/wxmock -listen 127.0.0.1:9090 -appid "$WX_APPID" -secret "$WX_SECRET" &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
bin/caddy run --config Caddyfile --adapter caddyfile
