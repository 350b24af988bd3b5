#!/usr/bin/env bash
# bench/run.sh — what wxauth costs per request, side by side with plain Caddy
# (issue 7). One run, one upstream, one load generator, a fresh Caddy per
# scenario:
#
#   A          plain reverse_proxy (the baseline)
#   B          wxauth, memory store, a valid token
#   C          wxauth, Redis store, a valid token
#   C-nocache  as C with cache_ttl off: every request reads the store
#   D          wxauth, memory store, a new forged token per request -> 401
#              (the attack path: each needs a signature check)
#   D-replay   as D with one forged token replayed (remembered as refused)
#   U-plain    plain reverse_proxy, each request a different user's token
#              (round-robin over $BENCH_USERS tokens): U's baseline
#   U          many users on Redis: wxauth, Redis store, default cache_ttl,
#              $BENCH_USERS logged-in users, each request the next user's
#              token, so each token comes back only every BENCH_USERS
#              requests (longer than cache_ttl at these rates)
#
# For every scenario on Redis (C, C-nocache, U) the Redis commands per
# request of the measured run (INFO commandstats before and after) are
# reported, by command. Then POST /wx/login throughput against wxmock
# -latency 20ms at concurrency 1, 8 and 32, then wxapi: the latency a call
# through wxapi adds to the same call straight to WeChat (one connection,
# alternating, against a wxmock without latency), and 1,000 concurrent wxapi
# calls across two instances on one Redis, first with no token, then after
# WeChat invalidated it, counting the token fetches; then propagation: two
# instances on one Redis with a long cache_ttl, a user logged in on A and
# verified on B, logged out on A, and B asked until it answers 401, timed
# from the logout's answer and given up after $BENCH_PROP_TIMEOUT. Prints
# Markdown tables (BENCH.md quotes them).
#
# Caddy runs with GOMAXPROCS=1 pinned to CPU $BENCH_CADDY_CPU; wrk, the
# upstream, wxmock and Redis share CPU $BENCH_GEN_CPU. The "caddy cpu" column
# says whether Caddy's core was the bottleneck (~100%) and "gen cpu" whether
# the generator's core was (it should stay below 100%).
#
# Settings (environment):
#   BENCH_DURATION=10          seconds per throughput run
#   BENCH_WARMUP=2             seconds of warm-up before it
#   BENCH_CONNECTIONS=32       connections of the throughput run
#   BENCH_LATENCY_DURATION=4   seconds of the one-connection latency run
#   BENCH_LOGIN_DURATION=5     seconds per login concurrency level
#   BENCH_LOGIN_CONCURRENCY=1,8,32
#   BENCH_WECHAT_LATENCY=20ms  wxmock -latency
#   BENCH_SCENARIOS="A B C C-nocache D D-replay U-plain U login wxapi propagation"
#   BENCH_ROUNDS=1             run A..U this many times, interleaved, and report
#                              the best round (for a machine that is not quiet)
#   BENCH_WAIT_QUIET=0         wait up to this many seconds for the machine to
#                              be under 10% busy before starting
#   BENCH_REDIS_URL            use this Redis (give a db index nobody else
#                              uses); default: a throwaway redis-server on a
#                              free port, or skip C when there is none
#   BENCH_USERS=20000          U: distinct logged-in users (their tokens are
#                              made once per run, before the first U or U-plain)
#   BENCH_USERS_CONCURRENCY=64 U: logins in flight while making them
#   BENCH_PROP_TRIALS=100      propagation: trials (logout on A, 401 on B)
#   BENCH_PROP_CONCURRENCY=10  propagation: trials in flight at once
#   BENCH_PROP_TIMEOUT=3s      propagation: give a trial up this long after
#                              the logout's answer
#   BENCH_PROP_CACHE_TTL=1h    propagation: both instances' cache_ttl (long,
#                              so that only an event explains a quick 401)
#   BENCH_CADDY_CPU=0 BENCH_GEN_CPU=1
#   BENCH_LOADGEN=wrk|go       default wrk (installed with apt-get when
#                              missing); go = bench/loadgen http, the fallback
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNECTIONS:-32}
LAT_DURATION=${BENCH_LATENCY_DURATION:-4}
LOGIN_DURATION=${BENCH_LOGIN_DURATION:-5}
LOGIN_LEVELS=${BENCH_LOGIN_CONCURRENCY:-1,8,32}
WECHAT_LATENCY=${BENCH_WECHAT_LATENCY:-20ms}
SCENARIOS=${BENCH_SCENARIOS:-A B C C-nocache D D-replay U-plain U login wxapi propagation}
USERS=${BENCH_USERS:-20000}
USERS_CONC=${BENCH_USERS_CONCURRENCY:-64}
PROP_TRIALS=${BENCH_PROP_TRIALS:-100}
PROP_CONC=${BENCH_PROP_CONCURRENCY:-10}
PROP_TIMEOUT=${BENCH_PROP_TIMEOUT:-3s}
PROP_CACHE_TTL=${BENCH_PROP_CACHE_TTL:-1h}
CADDY_CPU=${BENCH_CADDY_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
LOADGEN=${BENCH_LOADGEN:-wrk}

APPID=wx0123456789abcdef
export WX_SECRET=wxmock-demo-secret

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------

if [[ $LOADGEN == wrk ]] && ! command -v wrk >/dev/null; then
	log "wrk not found; installing it with apt-get"
	sudo=""
	[[ $(id -u) == 0 ]] || sudo="sudo"
	if ! { $sudo apt-get -o DPkg::Lock::Timeout=120 update -qq &&
		$sudo apt-get -o DPkg::Lock::Timeout=120 install -y -qq wrk; } >&2; then
		log "apt-get failed: falling back to the Go load generator (bench/loadgen http)"
		LOADGEN=go
	fi
fi

PIN_CADDY=() PIN_GEN=() PINNING="none (no taskset or fewer than 2 CPUs)"
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	PIN_CADDY=(taskset -c "$CADDY_CPU")
	PIN_GEN=(taskset -c "$GEN_CPU")
	PINNING="caddy (GOMAXPROCS=1) on CPU $CADDY_CPU; generator, upstream, wxmock, redis on CPU $GEN_CPU"
else
	log "no taskset or fewer than 2 CPUs: Caddy and the generator are not pinned"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wxauth-bench.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building cmd/caddy, cmd/wxmock, bench/upstream, bench/loadgen into $TMP"
go build -o "$TMP/caddy" ./cmd/caddy
go build -o "$TMP/wxmock" ./cmd/wxmock
go build -o "$TMP/upstream" ./bench/upstream
go build -o "$TMP/loadgen" ./bench/loadgen
LG=$TMP/loadgen

read -r -d '' UP_PORT MOCK_PORT REDIS_PORT CADDY_PORT < <("$LG" freeport 4; printf '\0') || true
SITE=http://127.0.0.1:$CADDY_PORT
MOCK=http://127.0.0.1:$MOCK_PORT

# --- shared processes (on the generator's core) -------------------------------

GOMAXPROCS=1 "${PIN_GEN[@]}" "$TMP/upstream" -listen "127.0.0.1:$UP_PORT" 2>"$TMP/upstream.log" &
PIDS+=($!)
"$LG" wait -url "http://127.0.0.1:$UP_PORT/" || die "upstream did not start: $(cat "$TMP/upstream.log")"

"${PIN_GEN[@]}" "$TMP/wxmock" -listen "127.0.0.1:$MOCK_PORT" -appid "$APPID" -secret "$WX_SECRET" \
	-unionid -latency "$WECHAT_LATENCY" 2>"$TMP/wxmock.log" &
PIDS+=($!)
"$LG" wait -url "$MOCK/mock/stats" || die "wxmock did not start: $(cat "$TMP/wxmock.log")"

has_scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }
needs_redis() {
	local s
	for s in C C-nocache U-plain U wxapi propagation; do
		has_scenario "$s" && return 0
	done
	return 1
}

REDIS_URL=${BENCH_REDIS_URL:-}
if [[ -z $REDIS_URL ]] && needs_redis; then
	if command -v redis-server >/dev/null; then
		mkdir -p "$TMP/redis"
		"${PIN_GEN[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
			--dir "$TMP/redis" --logfile "$TMP/redis.log" &
		PIDS+=($!)
		REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
		for _ in $(seq 100); do
			redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
			sleep 0.05
		done
	else
		log "no redis-server on PATH and no BENCH_REDIS_URL: skipping C, C-nocache, U-plain, U, wxapi and propagation"
		kept=
		for s in $SCENARIOS; do
			case $s in C | C-nocache | U-plain | U | wxapi | propagation) ;; *) kept+=" $s" ;; esac
		done
		SCENARIOS=${kept# }
	fi
fi
# redis_cmdstats prints "command calls usec" for every command Redis has
# served (INFO commandstats), or nothing when redis-cli cannot reach it.
# The counts are the whole server's: exact with the throwaway redis-server,
# polluted by other clients with a shared BENCH_REDIS_URL.
REDIS_STATS=
if [[ -n $REDIS_URL ]] && command -v redis-cli >/dev/null &&
	redis-cli -u "$REDIS_URL" INFO commandstats >/dev/null 2>&1; then
	REDIS_STATS=1
else
	log "redis-cli cannot reach $REDIS_URL: no Redis commands per request"
fi
redis_cmdstats() {
	[[ -n $REDIS_STATS ]] || return 0
	{ redis-cli -u "$REDIS_URL" INFO commandstats 2>/dev/null || true; } | tr -d '\r' |
		sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=\([0-9]*\).*/\1 \2 \3/p'
}
KEY_PREFIX="bench-$$-$RANDOM:" # every key expires by itself; nothing is flushed

# --- one scenario --------------------------------------------------------------

# caddyfile NAME WXAUTH_BLOCK [PORT] writes $TMP/NAME.Caddyfile from the
# template, for a site on PORT (default $CADDY_PORT).
caddyfile() {
	local t
	t=$(<bench/Caddyfile.tmpl)
	t=${t//@DATA@/$TMP/caddy-data}
	t=${t//@PORT@/${3:-$CADDY_PORT}}
	t=${t//@UPSTREAM@/$UP_PORT}
	t=${t//@WXAUTH@/$2}
	printf '%s\n' "$t" >"$TMP/$1.Caddyfile"
}

wxauth_block() { # wxauth_block [extra subdirective lines]
	printf '\twxauth {\n\t\tapp_id %s\n\t\tapp_secret {env.WX_SECRET}\n\t\tapi_base %s\n%s\t}' \
		"$APPID" "$MOCK" "${1:+$1$'\n'}"
}

CADDY_PID=
start_caddy() { # start_caddy NAME READY_PATH [SITE]: sets CADDY_PID
	XDG_DATA_HOME=$TMP XDG_CONFIG_HOME=$TMP HOME=$TMP GOMAXPROCS=1 \
		"${PIN_CADDY[@]}" "$TMP/caddy" run --config "$TMP/$1.Caddyfile" --adapter caddyfile \
		>"$TMP/$1.caddy.log" 2>&1 &
	CADDY_PID=$!
	PIDS+=("$CADDY_PID")
	local i
	for i in $(seq 60); do
		kill -0 "$CADDY_PID" 2>/dev/null || die "caddy ($1) exited: $(cat "$TMP/$1.caddy.log")"
		"$LG" wait -url "${3:-$SITE}$2" -timeout 250ms 2>/dev/null && return
	done
	die "caddy ($1) did not become ready: $(cat "$TMP/$1.caddy.log")"
}

stop_caddy() { # stop_caddy [PID], default $CADDY_PID
	local stop=${1:-$CADDY_PID}
	kill -INT "$stop" 2>/dev/null || true
	wait "$stop" 2>/dev/null || true
	local keep=() pid
	for pid in "${PIDS[@]}"; do
		[[ $pid == "$stop" ]] || keep+=("$pid")
	done
	PIDS=("${keep[@]}")
	[[ $stop != "$CADDY_PID" ]] || CADDY_PID=
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user+system of a process
# core_busy CPU|"" prints busy and total ticks of one core ("" = all cores).
core_busy() { awk -v c="cpu$1" '$1 == c {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# machine_busy SECONDS prints how busy the whole machine was, in percent.
machine_busy() {
	local b0 t0 b1 t1
	read -r b0 t0 < <(core_busy "")
	sleep "$1"
	read -r b1 t1 < <(core_busy "")
	echo $((100 * (b1 - b0) / (t1 - t0 + 1)))
}

# load CONNS SECONDS [header] prints the RESULT line of one closed-loop run.
# With VARY set, every request carries a new forgery of the header's token;
# with TOKENS set (a token file), the next of its tokens, round-robin.
load() {
	local c=$1 d=$2 hdr=${3:-} out
	if [[ $LOADGEN == wrk && -n $TOKENS ]]; then
		out=$(WXAUTH_TOKENS=$TOKENS "${PIN_GEN[@]}" wrk -t1 -c"$c" -d"${d}s" --timeout 5s \
			-s "$TMP/tokens.lua" "$SITE/bench")
	elif [[ -n $TOKENS ]]; then
		out=$("${PIN_GEN[@]}" "$LG" http -url "$SITE/bench" -c "$c" -d "${d}s" -tokens "$TOKENS")
	elif [[ $LOADGEN == wrk && -n $VARY ]]; then
		out=$(WXAUTH_FORGED=${hdr#Authorization: Bearer } "${PIN_GEN[@]}" wrk -t1 -c"$c" -d"${d}s" --timeout 5s \
			-s "$TMP/forged.lua" "$SITE/bench")
	elif [[ $LOADGEN == wrk ]]; then
		out=$("${PIN_GEN[@]}" wrk -t1 -c"$c" -d"${d}s" --timeout 5s -s bench/report.lua \
			${hdr:+-H "$hdr"} "$SITE/bench")
	else
		out=$("${PIN_GEN[@]}" "$LG" http -url "$SITE/bench" -c "$c" -d "${d}s" ${VARY:+-vary} ${hdr:+-H "$hdr"})
	fi
	grep '^RESULT ' <<<"$out" || die "no result from the load generator: $out"
}
VARY= TOKENS=
cat bench/report.lua bench/forged.lua >"$TMP/forged.lua"
cat bench/report.lua bench/tokens.lua >"$TMP/tokens.lua"

# many_tokens logs $USERS distinct users in, once per run, through a Caddy
# configured as U (the same Redis keys, so the same signing key), and sets
# MANY to the file of their tokens.
MANY=
many_tokens() {
	MANY=$TMP/tokens.txt
	[[ -s $MANY ]] && return
	caddyfile U-login "$(u_block)"
	log "logging $USERS users in ($USERS_CONC at a time) for U"
	start_caddy U-login /wx/.well-known/jwks.json
	"${PIN_GEN[@]}" "$LG" tokens -site "$SITE" -mock "$MOCK" -n "$USERS" -c "$USERS_CONC" -o "$MANY" ||
		die "could not log $USERS users in"
	stop_caddy
}
u_block() { wxauth_block "$(printf '\t\tstore redis %s\n\t\tkey_prefix %smany:\n' "$REDIS_URL" "$KEY_PREFIX")"; }

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

declare -A LABEL RPS P50 P99 P50_1 P99_1 CPU_US CADDY_PCT CORE_PCT GEN_PCT REDIS_REQS FIRST_PASS
# run_scenario NAME LABEL WXAUTH_BLOCK EXPECT(2xx|401) TOKEN_KIND: none, valid,
# forged (one forged token, replayed), forged-each (a new forgery per
# request), many (each request the next of $USERS users' tokens; each token
# is sent once before the warm-up, so that the measured run meets no token
# for the first time), many-plain (as many, to a Caddy without wxauth)
run_scenario() {
	local name=$1 label=$2 block=$3 expect=$4 kind=$5 ready=/bench hdr="" tok
	caddyfile "$name" "$block"
	[[ -n $block ]] && ready=/wx/.well-known/jwks.json
	log "scenario $name: $label"
	TOKENS= VARY=
	if [[ $kind == many* ]]; then
		many_tokens # before this scenario's Caddy: it starts one of its own
		TOKENS=$MANY
	fi
	start_caddy "$name" "$ready"
	if [[ $kind == none ]]; then
		# The baseline gets the same request bytes: a Bearer value as long as
		# a real token (426 characters), which plain reverse_proxy forwards.
		tok=$(printf 'x%.0s' $(seq 426))
	elif [[ $kind == many ]]; then
		# Every token's first request costs a signature check: send each once,
		# so that the measured run is the steady state of many users.
		local first
		first=$("${PIN_GEN[@]}" "$LG" http -url "$SITE/bench" -c "$CONNS" -d 300s -tokens "$TOKENS" \
			-n "$(grep -c . "$TOKENS")" | grep '^RESULT ') || die "scenario $name: first pass failed"
		[[ $(field non2xx "$first") == 0 && $(field errors "$first") == 0 ]] ||
			die "scenario $name: tokens refused on their first request: $first"
		log "$name: each token's first request (signature check and store reads): $(field rps "$first") req/s"
		FIRST_PASS[$name]+=" $(field rps "$first")"
	elif [[ $kind != many-plain ]]; then
		tok=$("$LG" token -site "$SITE" -mock "$MOCK" -user "bench-$name")
		[[ $kind == forged* ]] && tok=$("$LG" forge -token "$tok")
	fi
	hdr=${tok:+Authorization: Bearer $tok}
	[[ $kind == forged-each ]] && VARY=1
	load "$CONNS" "$WARMUP" "$hdr" >/dev/null
	local tick0 tick1 cb0 ct0 cb1 ct1 gb0 gt0 gb1 gt1 hz r on_redis= redis0=
	[[ $block == *"store redis"* && -n $REDIS_STATS ]] && on_redis=1
	[[ -z $on_redis ]] || redis0=$(redis_cmdstats)
	hz=$(getconf CLK_TCK)
	tick0=$(cpu_ticks "$CADDY_PID")
	read -r cb0 ct0 < <(core_busy "$CADDY_CPU")
	read -r gb0 gt0 < <(core_busy "$GEN_CPU")
	r=$(load "$CONNS" "$DURATION" "$hdr")
	tick1=$(cpu_ticks "$CADDY_PID")
	read -r cb1 ct1 < <(core_busy "$CADDY_CPU")
	read -r gb1 gt1 < <(core_busy "$GEN_CPU")
	local redis1=
	[[ -z $on_redis ]] || redis1=$(redis_cmdstats)
	local r1
	r1=$(load 1 "$LAT_DURATION" "$hdr")
	stop_caddy
	VARY= TOKENS=

	local reqs non2xx errors
	reqs=$(field reqs "$r") non2xx=$(field non2xx "$r") errors=$(field errors "$r")
	if [[ $expect == 2xx && $non2xx != 0 ]] || [[ $expect == 401 && $non2xx != "$reqs" ]] || [[ $errors != 0 ]]; then
		die "scenario $name: expected $expect, got $non2xx non-2xx and $errors socket errors of $reqs: $r"
	fi
	if [[ -n $on_redis ]]; then
		# The commands Redis served during the measured run, less our INFO.
		awk 'NR == FNR {c[$1] = $2; u[$1] = $3; next}
			$1 != "info" && $2 > c[$1] {print $1, $2 - c[$1], $3 - u[$1]}' \
			<(printf '%s\n' "$redis0") <(printf '%s\n' "$redis1") >>"$TMP/redis-$name.cmds"
		REDIS_REQS[$name]=$((${REDIS_REQS[$name]:-0} + reqs))
	fi
	local rps cpu_us
	rps=$(field rps "$r")
	cpu_us=$(awk -v t="$((tick1 - tick0))" -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", 1e6 * t / hz / n}')
	log "$name: $rps req/s, p99 $(field p99 "$r") µs, caddy $cpu_us µs CPU/req; 1 conn: p50 $(field p50 "$r1") µs, p99 $(field p99 "$r1") µs"
	# Every round is kept; the report shows each column's median over rounds.
	LABEL[$name]=$label
	RPS[$name]+=" $rps" P50[$name]+=" $(field p50 "$r")" P99[$name]+=" $(field p99 "$r")"
	P50_1[$name]+=" $(field p50 "$r1")" P99_1[$name]+=" $(field p99 "$r1")" CPU_US[$name]+=" $cpu_us"
	CADDY_PCT[$name]+=" $(awk -v t="$((tick1 - tick0))" -v hz="$hz" -v d="$DURATION" 'BEGIN {printf "%.0f", 100 * t / hz / d}')"
	CORE_PCT[$name]+=" $(((cb1 - cb0) * 100 / (ct1 - ct0 + 1)))"
	GEN_PCT[$name]+=" $(((gb1 - gb0) * 100 / (gt1 - gt0 + 1)))"
}

# median, most and least print the median, maximum and minimum of their
# arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
most() { printf '%s\n' "$@" | sort -g | tail -1; }
least() { printf '%s\n' "$@" | sort -g | head -1; }

# Other work on the machine skews every figure: say how busy it is, and with
# BENCH_WAIT_QUIET=N wait up to N seconds for it to calm down.
BUSY=$(machine_busy 2)
if ((${BENCH_WAIT_QUIET:-0} > 0 && BUSY > 10)); then
	log "machine ${BUSY}% busy; waiting up to ${BENCH_WAIT_QUIET}s for it to drop below 10%"
	deadline=$((SECONDS + BENCH_WAIT_QUIET))
	while ((BUSY > 10 && SECONDS < deadline)); do BUSY=$(machine_busy 5); done
fi
((BUSY <= 10)) || log "warning: the machine was ${BUSY}% busy before the run; figures will be noisy"

# --- the scenarios ---------------------------------------------------------------

ROUNDS=${BENCH_ROUNDS:-1}
for ((round = 1; round <= ROUNDS; round++)); do
	((ROUNDS == 1)) || log "round $round of $ROUNDS"
	for s in $SCENARIOS; do
		case $s in
		A) run_scenario A "plain reverse_proxy" "" 2xx none ;;
		B) run_scenario B "wxauth memory, valid token" "$(wxauth_block)" 2xx valid ;;
		C) run_scenario C "wxauth redis, valid token" \
			"$(wxauth_block "$(printf '\t\tstore redis %s\n\t\tkey_prefix %s\n' "$REDIS_URL" "$KEY_PREFIX")")" 2xx valid ;;
		C-nocache) run_scenario C-nocache "wxauth redis, cache_ttl off" \
			"$(wxauth_block "$(printf '\t\tstore redis %s\n\t\tkey_prefix %s\n\t\tcache_ttl off\n' "$REDIS_URL" "$KEY_PREFIX")")" 2xx valid ;;
		D) run_scenario D "wxauth memory, a new forged token per request → 401" "$(wxauth_block)" 401 forged-each ;;
		D-replay) run_scenario D-replay "wxauth memory, one forged token replayed → 401" "$(wxauth_block)" 401 forged ;;
		U-plain) run_scenario U-plain "plain reverse_proxy, $USERS users' tokens in turn" "" 2xx many-plain ;;
		U) run_scenario U "wxauth redis, $USERS users' tokens in turn" "$(u_block)" 2xx many ;;
		login | wxapi | propagation) ;;
		*) die "unknown scenario $s" ;;
		esac
	done
done

LOGIN_OUT=
if has_scenario login; then
	caddyfile login "$(wxauth_block)"
	log "login throughput: POST /wx/login, wxmock -latency $WECHAT_LATENCY, concurrency $LOGIN_LEVELS"
	start_caddy login /wx/.well-known/jwks.json
	hz=$(getconf CLK_TCK)
	for c in ${LOGIN_LEVELS//,/ }; do
		tick0=$(cpu_ticks "$CADDY_PID")
		line=$("${PIN_GEN[@]}" "$LG" login -site "$SITE" -mock "$MOCK" -c "$c" \
			-d "${LOGIN_DURATION}s" -latency "$WECHAT_LATENCY" | grep '^RESULT ')
		tick1=$(cpu_ticks "$CADDY_PID")
		# Minting the codes does not touch Caddy, so its CPU is the logins'.
		LOGIN_OUT+="$line cpu_us=$(awk -v t="$((tick1 - tick0))" -v hz="$hz" -v n="$(field reqs "$line")" 'BEGIN {printf "%.0f", 1e6 * t / hz / n}')"$'\n'
	done
	log "connections to wxmock left in TIME_WAIT: $(ss -Htan state time-wait "( dport = :$MOCK_PORT )" 2>/dev/null | wc -l)"
	stop_caddy
fi

WXAPI_OUT=
if has_scenario wxapi; then
	read -r -d '' MOCK2_PORT WXAPI_A_PORT WXAPI_B_PORT < <("$LG" freeport 3; printf '\0') || true
	MOCK2=http://127.0.0.1:$MOCK2_PORT
	"${PIN_GEN[@]}" "$TMP/wxmock" -listen "127.0.0.1:$MOCK2_PORT" -appid "$APPID" -secret "$WX_SECRET" 2>"$TMP/wxmock2.log" &
	PIDS+=($!)
	"$LG" wait -url "$MOCK2/mock/stats" || die "wxmock without latency did not start: $(cat "$TMP/wxmock2.log")"
	WXAPI_PIDS=()
	for port in "$WXAPI_A_PORT" "$WXAPI_B_PORT"; do
		cat >"$TMP/wxapi-$port.Caddyfile" <<-EOF
			{
				admin off
				auto_https off
				persist_config off
				storage file_system $TMP/caddy-data
				wxauth {
					api_base $MOCK2
					store redis $REDIS_URL
					key_prefix ${KEY_PREFIX}wxapi:
					miniprogram bench {
						app_id $APPID
						app_secret {env.WX_SECRET}
					}
				}
			}

			http://127.0.0.1:$port {
				wxapi {
					app bench
				}
			}

			# The same hop without wxapi's work: Caddy's own share of the latency.
			http://127.0.0.1:$((port + 10000)) {
				reverse_proxy 127.0.0.1:$MOCK2_PORT
			}
		EOF
		XDG_DATA_HOME=$TMP XDG_CONFIG_HOME=$TMP HOME=$TMP GOMAXPROCS=1 "${PIN_CADDY[@]}" "$TMP/caddy" run \
			--config "$TMP/wxapi-$port.Caddyfile" --adapter caddyfile >"$TMP/wxapi-$port.log" 2>&1 &
		WXAPI_PIDS+=($!)
		PIDS+=($!)
	done
	A=http://127.0.0.1:$WXAPI_A_PORT B=http://127.0.0.1:$WXAPI_B_PORT
	# A token request for an app not served is answered by wxapi itself
	# (errcode 40013, HTTP 200) without fetching a token: ready once it answers.
	for site in "$A" "$B"; do
		"$LG" wait -url "$site/cgi-bin/token?grant_type=client_credential&appid=wxnotserved&secret=x" ||
			die "wxapi did not start: $(cat "$TMP"/wxapi-*.log)"
	done
	before=$("$LG" fetches -mock "$MOCK2" -appid "$APPID")
	first=$("${PIN_GEN[@]}" "$LG" burst -urls "$A/cgi-bin/getcallbackip,$B/cgi-bin/getcallbackip" -n 1000)
	mid=$("$LG" fetches -mock "$MOCK2" -appid "$APPID")
	curl -fsS -X POST "$MOCK2/mock/invalidate_tokens" >/dev/null
	second=$("${PIN_GEN[@]}" "$LG" burst -urls "$A/cgi-bin/getcallbackip,$B/cgi-bin/getcallbackip" -n 1000)
	after=$("$LG" fetches -mock "$MOCK2" -appid "$APPID")
	# The same call straight to WeChat needs the token: the shared one.
	tok=$(curl -fsS "$A/cgi-bin/token?grant_type=client_credential&appid=$APPID&secret=$WX_SECRET" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
	lat=$("${PIN_GEN[@]}" "$LG" wxapi -direct "$MOCK2/cgi-bin/getcallbackip?access_token=$tok" \
		-proxy "http://127.0.0.1:$((WXAPI_A_PORT + 10000))/cgi-bin/getcallbackip?access_token=$tok" \
		-via "$A/cgi-bin/getcallbackip" -d "${LAT_DURATION}s")
	kill -INT "${WXAPI_PIDS[@]}" 2>/dev/null || true
	wait "${WXAPI_PIDS[@]}" 2>/dev/null || true
	WXAPI_OUT+="BURST label=no_token fetches=$((mid - before)) $(grep '^RESULT ' <<<"$first")"$'\n'
	WXAPI_OUT+="BURST label=after_invalidation fetches=$((after - mid)) $(grep '^RESULT ' <<<"$second")"$'\n'
	WXAPI_OUT+=$(grep '^RESULT ' <<<"$lat" | sed 's/^RESULT /LAT /')$'\n'
	log "wxapi: $(tr '\n' ';' <<<"$WXAPI_OUT")"
fi

PROP_OUT=
if has_scenario propagation; then
	# Two instances on one Redis, both on Caddy's core; A is ready before B
	# starts. Their cache_ttl is long, so B refuses a token logged out on A
	# quickly only if something tells it; until then, only after cache_ttl.
	read -r -d '' PROP_A_PORT PROP_B_PORT < <("$LG" freeport 2; printf '\0') || true
	prop_block=$(wxauth_block "$(printf '\t\tstore redis %s\n\t\tkey_prefix %sprop:\n\t\tcache_ttl %s\n' \
		"$REDIS_URL" "$KEY_PREFIX" "$PROP_CACHE_TTL")")
	PROP_PIDS=()
	for side in A B; do
		port_var=PROP_${side}_PORT
		caddyfile "prop-$side" "$prop_block" "${!port_var}"
		start_caddy "prop-$side" /wx/.well-known/jwks.json "http://127.0.0.1:${!port_var}"
		PROP_PIDS+=("$CADDY_PID")
	done
	log "propagation: $PROP_TRIALS logouts on A ($PROP_CONC at a time), B asked until 401 or $PROP_TIMEOUT; cache_ttl $PROP_CACHE_TTL"
	line=$("${PIN_GEN[@]}" "$LG" propagation -a "http://127.0.0.1:$PROP_A_PORT" -b "http://127.0.0.1:$PROP_B_PORT" \
		-mock "$MOCK" -n "$PROP_TRIALS" -c "$PROP_CONC" -timeout "$PROP_TIMEOUT") ||
		die "propagation failed: $line"
	PROP_OUT=$(grep '^RESULT ' <<<"$line")
	log "propagation: $PROP_OUT"
	for pid in "${PROP_PIDS[@]}"; do stop_caddy "$pid"; done
fi

# --- report ----------------------------------------------------------------------

echo
echo "caddy-wxauth benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(go version | cut -d' ' -f3)"
echo "generator: $LOADGEN, ${CONNS} connections, ${DURATION}s after ${WARMUP}s warm-up; then 1 connection for ${LAT_DURATION}s"
echo "pinning: $PINNING"
echo "machine busy before the run: ${BUSY}% (load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
# table BASE SCENARIO... prints the requests table of the scenarios that ran,
# each compared with BASE (a scenario that ran, or none).
table() {
	local base=$1 has= s
	shift
	[[ -n ${RPS[$base]:-} ]] && has=1
	echo "| | scenario | req/s | p50 µs | p99 µs | ratio to $base | p50 µs, 1 conn | p99 µs, 1 conn | added p99 µs, 1 conn | caddy CPU µs/req | added CPU µs/req | caddy cpu | caddy core busy | gen core busy |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for s in "$@"; do
		[[ -n ${RPS[$s]:-} ]] || continue
		# shellcheck disable=SC2086 # the arrays hold space-separated rounds
		awk -v n="$s" -v l="${LABEL[$s]}" -v rps="$(most ${RPS[$s]})" -v p50="$(median ${P50[$s]})" \
			-v p99="$(median ${P99[$s]})" -v p50_1="$(median ${P50_1[$s]})" -v p99_1="$(median ${P99_1[$s]})" \
			-v cpu="$(least ${CPU_US[$s]})" -v base="$(most ${RPS[$base]:-})" -v bp99_1="$(median ${P99_1[$base]:-})" \
			-v bcpu="$(least ${CPU_US[$base]:-})" -v cp="$(median ${CADDY_PCT[$s]})" -v core="$(median ${CORE_PCT[$s]})" \
			-v gen="$(median ${GEN_PCT[$s]})" -v hasBase="$has" -v isBase="$([[ $s == "$base" ]] && echo 1)" 'BEGIN {
			ratio = hasBase ? sprintf("%.3f", rps / base) : "—"
			added = (hasBase && !isBase) ? sprintf("%+d", p99_1 - bp99_1) : "—"
			dcpu = (hasBase && !isBase) ? sprintf("%+.1f", cpu - bcpu) : "—"
			printf "| %s | %s | %.0f | %d | %d | %s | %d | %d | %s | %.1f | %s | %d%% | %d%% | %d%% |\n", n, l, rps, p50, p99, ratio, p50_1, p99_1, added, cpu, dcpu, cp, core, gen
		}'
	done
	echo
}

if [[ ${RPS[*]+set} ]]; then
	((ROUNDS == 1)) || echo "(over $ROUNDS interleaved rounds: req/s is the best round and CPU µs/req the least, as interference only ever slows a round down; latencies and percentages are medians)"
	rows=() many=()
	for s in $SCENARIOS; do
		[[ -n ${RPS[$s]:-} ]] || continue
		case $s in U-plain | U) many+=("$s") ;; *) rows+=("$s") ;; esac
	done
	((${#rows[@]} == 0)) || table A "${rows[@]}"
	if ((${#many[@]})); then
		echo "Many users: $USERS distinct logged-in users, each request the next one's token (round-robin); U is compared with U-plain, the same requests through plain reverse_proxy."
		echo
		table U-plain "${many[@]}"
		# shellcheck disable=SC2086
		[[ -z ${FIRST_PASS[U]:-} ]] || echo "(U, each token's first request, before the warm-up — a signature check and the store reads: $(median ${FIRST_PASS[U]}) req/s with bench/loadgen at $CONNS connections)"
		echo
	fi
fi

REDIS_ROWS=
for s in $SCENARIOS; do
	[[ -s $TMP/redis-$s.cmds && ${REDIS_REQS[$s]:-0} -gt 0 ]] || continue
	REDIS_ROWS+=$(awk -v n="$s" -v reqs="${REDIS_REQS[$s]}" '
		{calls[$1] += $2; usec[$1] += $3; total += $2; time += $3}
		END {
			k = 0
			for (c in calls) order[++k] = c
			for (i = 1; i <= k; i++)  # by calls, most first
				for (j = i + 1; j <= k; j++)
					if (calls[order[j]] > calls[order[i]]) { t = order[i]; order[i] = order[j]; order[j] = t }
			by = ""
			for (i = 1; i <= k; i++) {
				per = calls[order[i]] / reqs
				by = by (i > 1 ? ", " : "") sprintf(per >= 0.01 ? "%s %.2f (%d)" : "%s %.2g (%d)", toupper(order[i]), per, calls[order[i]])
			}
			printf "| %s | %d | %d | %.3f | %.2f | %s |\n", n, reqs, total, total / reqs, time / reqs, (k ? by : "none")
		}' "$TMP/redis-$s.cmds")$'\n'
done
if [[ -n $REDIS_ROWS ]]; then
	echo "Redis commands during the measured runs (INFO commandstats before and after, the INFO calls left out${BENCH_REDIS_URL:+; a shared Redis, so the commands of other clients count too}):"
	echo
	echo "| scenario | requests | Redis commands | per request | Redis µs/req | by command: per request (calls) |"
	echo "|---|---:|---:|---:|---:|---|"
	printf '%s' "$REDIS_ROWS"
	echo
fi

if [[ -n $WXAPI_OUT ]]; then
	echo "| a WeChat API call, one connection, alternating | p50 µs | p99 µs | calls | non-2xx |"
	echo "|---|---:|---:|---:|---:|"
	while read -r line; do
		printf '| %s | %s | %s | %s | %s |\n' "$(field path "$line")" "$(field p50 "$line")" "$(field p99 "$line")" \
			"$(field reqs "$line")" "$(($(field non2xx "$line") + $(field errors "$line")))"
	done < <(grep '^LAT ' <<<"$WXAPI_OUT")
	echo
	echo "| 1,000 concurrent wxapi calls over two instances on one Redis | token fetches | p50 ms | p99 ms | non-2xx |"
	echo "|---|---:|---:|---:|---:|"
	while read -r line; do
		awk -v l="$(field label "$line")" -v f="$(field fetches "$line")" -v p50="$(field p50 "$line")" -v p99="$(field p99 "$line")" \
			-v bad="$(($(field non2xx "$line") + $(field errors "$line")))" 'BEGIN {
			printf "| %s | %d | %.1f | %.1f | %d |\n", l, f, p50 / 1000, p99 / 1000, bad
		}'
	done < <(grep '^BURST ' <<<"$WXAPI_OUT")
	echo
fi

if [[ -n $PROP_OUT ]]; then
	echo "| logout on A, then B asked until 401 (two instances, one Redis, cache_ttl $PROP_CACHE_TTL) | trials | refused within $PROP_TIMEOUT | p50 ms | p99 ms | max ms | not within $PROP_TIMEOUT | errors |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	awk -v t="$(field trials "$PROP_OUT")" -v ok="$(field propagated "$PROP_OUT")" -v p50="$(field p50 "$PROP_OUT")" \
		-v p99="$(field p99 "$PROP_OUT")" -v mx="$(field max "$PROP_OUT")" -v late="$(field timeouts "$PROP_OUT")" \
		-v errs="$(field errors "$PROP_OUT")" 'BEGIN {
		if (ok > 0) printf "| from the logout'"'"'s answer to B'"'"'s first 401 | %d | %d | %.1f | %.1f | %.1f | %d | %d |\n", t, ok, p50 / 1000, p99 / 1000, mx / 1000, late, errs
		else printf "| from the logout'"'"'s answer to B'"'"'s first 401 | %d | 0 | — | — | — | %d | %d |\n", t, late, errs
	}'
	echo
fi

if [[ -n $LOGIN_OUT ]]; then
	echo "| concurrency | logins/s | ideal c/latency | efficiency | p50 ms | p99 ms | caddy CPU µs/login | non-200 |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	while read -r line; do
		awk -v rps="$(field rps "$line")" -v c="$(field c "$line")" -v ideal="$(field ideal "$line")" \
			-v p50="$(field p50 "$line")" -v p99="$(field p99 "$line")" -v bad="$(field non2xx "$line")" \
			-v errs="$(field errors "$line")" -v ex="$(field exhausted "$line")" -v cpu="$(field cpu_us "$line")" 'BEGIN {
			printf "| %d | %.0f | %.0f | %.0f%% | %.1f | %.1f | %d | %d%s |\n", c, rps, ideal, 100 * rps / ideal, p50 / 1000, p99 / 1000, cpu, bad + errs, ex ? " (ran out of codes)" : ""
		}'
	done < <(grep '^RESULT ' <<<"$LOGIN_OUT")
	echo
fi
