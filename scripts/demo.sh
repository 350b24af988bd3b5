#!/usr/bin/env bash
# Starts the fake WeChat and Caddy with the root Caddyfile. Ctrl-C (or
# SIGTERM) stops both, waits for them and exits 0, so `make demo` ends
# quietly; if Caddy fails (a port in use, say), the script fails with it.
#
# Environment (all optional): WX_APPID and WX_SECRET (wxmock's demo app);
# WXMOCK_ADDR, where wxmock listens (127.0.0.1:9090); and the root
# Caddyfile's WXAUTH_DEMO_ADDR, WXAUTH_DEMO_UPSTREAM and WXAUTH_DEMO_ADMIN.
set -euo pipefail
cd "$(dirname "$0")/.."
export WX_APPID=${WX_APPID:-wx0123456789abcdef}
export WX_SECRET=${WX_SECRET:-wxmock-demo-secret}
WXMOCK_ADDR=${WXMOCK_ADDR:-127.0.0.1:9090}
export WX_API_BASE=http://$WXMOCK_ADDR
mkdir -p bin
go build -o bin/caddy ./cmd/caddy
go build -o bin/wxmock ./cmd/wxmock

mock= caddy=
# stop ends both servers and waits for them. It sends SIGTERM even after a
# Ctrl-C, which has sent them SIGINT already: Caddy takes a second SIGINT
# as "force quit" and would skip its graceful shutdown.
stop() {
	trap - EXIT INT TERM
	local pid
	for pid in $caddy $mock; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $caddy $mock; do
		wait "$pid" 2>/dev/null || true
	done
}
trap 'stop; exit 0' INT TERM
trap 'status=$?; stop; exit "$status"' EXIT

# The secret goes in the environment, where ps does not show it.
WXMOCK_SECRET=$WX_SECRET bin/wxmock -listen "$WXMOCK_ADDR" -appid "$WX_APPID" &
mock=$!
bin/caddy run --config Caddyfile --adapter caddyfile &
caddy=$!
# Until Caddy exits by itself or a signal arrives (then the trap runs).
wait "$caddy"
