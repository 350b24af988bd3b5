#!/usr/bin/env bash
# Starts a two-instance wxauth cluster on this machine and proves it behaves
# as one: the fake WeChat (cmd/wxmock), Caddy instances a and b sharing one
# Redis, and a third Caddy balancing between them round robin. It logs in
# through the balancer, sees requests land on both instances, logs out, and
# checks that both instances refuse the token. Prints PASS, or FAIL and the
# logs, and exits non-zero on failure. Everything it starts, it stops.
#
#   examples/cluster/run.sh
#
# Environment (all optional):
#   REDIS_URL        the Redis both instances share. Unset: a throwaway
#                    redis-server when one is on PATH, else
#                    redis://127.0.0.1:6379/0.
#   WXAUTH_KEY_PREFIX  key prefix in that Redis (default: one per run).
#   LB_ADDR, INSTANCE_A_ADDR, INSTANCE_B_ADDR, WXMOCK_ADDR
#                    host:port to listen on (default: free loopback ports).
#   CADDY_BIN, WXMOCK_BIN  binaries to use instead of building cmd/caddy and
#                    cmd/wxmock from this repository.
#   VERBOSE=1        print every response.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/wxauth-cluster.XXXXXX")
pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
fail() {
	say "FAIL: $*"
	local f
	for f in "$work"/*.log; do
		[ -e "$f" ] || continue
		say "--- $(basename "$f") (last lines)"
		tail -n 20 "$f"
	done
	exit 1
}

command -v curl >/dev/null || fail "curl is needed"

# free_port sets $port to a loopback port nothing listens on, and that this
# script has not handed out already (not $(free_port): a subshell would forget
# them). It picks below the kernel's ephemeral range, whose ports outgoing
# connections may hold without listening.
used_ports=" "
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)
[ "${ephemeral_low:-0}" -gt 11000 ] 2>/dev/null || ephemeral_low=32768
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % (ephemeral_low - 10000)))
		case $used_ports in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports="$used_ports$p "
			port=$p
			return
		fi
	done
	fail "no free port found"
}

# wait_http waits until url answers with HTTP 200, or the process died.
wait_http() {
	local url=$1 pid=$2 name=$3
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || fail "$name exited during startup"
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" = 200 ]; then
			return
		fi
		sleep 0.1
	done
	fail "$name did not answer $url within 30s"
}

# json_field prints a string field of a flat JSON object.
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

# call METHOD URL [TOKEN [BODY]]: sets $status and $body.
call() {
	local args=(-s -o "$work/body" -w '%{http_code}' --max-time 10 -X "$1")
	[ -n "${3:-}" ] && args+=(-H "Authorization: Bearer $3")
	[ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data "$4")
	status=$(curl "${args[@]}" "$2") || status=000
	body=$(cat "$work/body" 2>/dev/null || true)
	if [ "${VERBOSE:-}" = 1 ]; then say "  $1 $2 -> $status $body"; fi
}

# --- binaries -----------------------------------------------------------------
if [ -z "${CADDY_BIN:-}" ] || [ -z "${WXMOCK_BIN:-}" ]; then
	say "building cmd/caddy and cmd/wxmock"
	(cd "$repo" && go build -o "$work/caddy" ./cmd/caddy && go build -o "$work/wxmock" ./cmd/wxmock)
fi
CADDY_BIN=${CADDY_BIN:-$work/caddy}
WXMOCK_BIN=${WXMOCK_BIN:-$work/wxmock}

# --- Redis --------------------------------------------------------------------
if [ -z "${REDIS_URL:-}" ]; then
	if command -v redis-server >/dev/null; then
		free_port
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--dir "$work" >"$work/redis.log" 2>&1 &
		pids+=($!)
		for _ in $(seq 100); do
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
			sleep 0.1
		done
		REDIS_URL=redis://127.0.0.1:$port/0
		say "Redis: throwaway redis-server on 127.0.0.1:$port"
	else
		REDIS_URL=redis://127.0.0.1:6379/0
		say "Redis: $REDIS_URL (no redis-server on PATH to start a throwaway one)"
	fi
else
	say "Redis: REDIS_URL from the environment"
fi
export REDIS_URL
export WXAUTH_KEY_PREFIX=${WXAUTH_KEY_PREFIX:-wxauth-cluster-example:$$:$RANDOM:}

# --- addresses and shared settings --------------------------------------------
export WX_APPID=${WX_APPID:-wx0123456789abcdef}
export WX_SECRET=${WX_SECRET:-wxmock-demo-secret}
for var in WXMOCK_ADDR INSTANCE_A_ADDR INSTANCE_B_ADDR LB_ADDR; do
	if [ -z "${!var:-}" ]; then
		free_port
		export "$var=127.0.0.1:$port"
	fi
done
export WX_API_BASE=http://$WXMOCK_ADDR
# Caddy keeps its data (and nothing else) in the temporary directory.
export XDG_DATA_HOME=$work XDG_CONFIG_HOME=$work

wechat=http://$WXMOCK_ADDR
a=http://$INSTANCE_A_ADDR
b=http://$INSTANCE_B_ADDR
lb=http://$LB_ADDR
jwks=/wx/.well-known/jwks.json

# --- start everything ---------------------------------------------------------
WXMOCK_SECRET=$WX_SECRET "$WXMOCK_BIN" -listen "$WXMOCK_ADDR" -appid "$WX_APPID" >"$work/wxmock.log" 2>&1 &
pids+=($!)
wait_http "$wechat/mock/stats" "$!" wxmock

start_caddy() {
	local name=$1 url=$2
	"$CADDY_BIN" run --config "$here/Caddyfile.$name" --adapter caddyfile >"$work/caddy-$name.log" 2>&1 &
	pids+=($!)
	wait_http "$url$jwks" "$!" "caddy $name"
}
start_caddy a "$a"
start_caddy b "$b"
start_caddy lb "$lb"
say "wxmock $wechat, instance a $a, instance b $b, balancer $lb"

# --- the checks ---------------------------------------------------------------
ok() { say "ok   $*"; }

mint=$(curl -s --max-time 5 "$wechat/mock/code?user=alice")
code=$(json_field code <<<"$mint")
openid=$(json_field openid <<<"$mint")
[ -n "$code" ] || fail "wxmock gave no code: $mint"

call POST "$lb/wx/login" "" "{\"code\":\"$code\"}"
[ "$status" = 200 ] || fail "login through the balancer: $status $body"
token=$(json_field token <<<"$body")
[ -n "$token" ] || fail "login answered no token: $body"
ok "logged in through the balancer as $openid"

seen=" "
for i in 1 2 3 4; do
	call GET "$lb/api/orders/$i" "$token"
	[ "$status" = 200 ] || fail "request $i through the balancer: $status $body"
	[ "$(json_field openid <<<"$body")" = "$openid" ] || fail "request $i: wrong identity: $body"
	instance=$(json_field instance <<<"$body")
	case $seen in *" $instance "*) ;; *) seen="$seen$instance " ;; esac
done
[ "$seen" = " a b " ] || [ "$seen" = " b a " ] || fail "requests landed on instances [$seen], want both a and b"
ok "4 requests through the balancer landed on a and b, both saw openid $openid"

for url in "$a" "$b"; do
	call GET "$url/api/direct" "$token"
	[ "$status" = 200 ] || fail "token on $url before logout: $status $body"
done
ok "the token works on each instance directly"

call POST "$lb/wx/logout" "$token"
[ "$status" = 204 ] || fail "logout through the balancer: $status $body"
ok "logged out through the balancer"

# The instance that served the logout refuses the token at once; the other
# one within cache_ttl (default 2s), the time it trusts what it last read
# from Redis about a token. Poll a little longer than that.
deadline=$((SECONDS + 4))
for url in "$a" "$b"; do
	while :; do
		call GET "$url/api/after-logout" "$token"
		[ "$status" = 401 ] && break
		[ "$status" = 200 ] && [ "$SECONDS" -lt "$deadline" ] || fail "token after logout on $url: $status $body, want 401"
		sleep 0.2
	done
	[ "$(json_field error <<<"$body")" = unauthorized ] || fail "token after logout on $url: $body"
done
for _ in 1 2; do
	call GET "$lb/api/after-logout" "$token"
	[ "$status" = 401 ] || fail "token after logout through the balancer: $status $body, want 401"
done
ok "after logout both instances refuse the token with 401, directly and through the balancer"

say PASS
