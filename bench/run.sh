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
#
# then POST /wx/login throughput against wxmock -latency 20ms at concurrency
# 1, 8 and 32, then wxapi: the latency a call through wxapi adds to the same
# call straight to WeChat (one connection, alternating, against a wxmock
# without latency), and 1,000 concurrent wxapi calls across two instances on
# one Redis, first with no token, then after WeChat invalidated it, counting
# the token fetches. Prints Markdown tables (BENCH.md quotes them).
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
#   BENCH_SCENARIOS="A B C C-nocache D D-replay login wxapi"
#   BENCH_ROUNDS=1             run A..D this many times, interleaved, and report
#                              the best round (for a machine that is not quiet)
#   BENCH_WAIT_QUIET=0         wait up to this many seconds for the machine to
#                              be under 10% busy before starting
#   BENCH_REDIS_URL            use this Redis (give a db index nobody else
#                              uses); default: a throwaway redis-server on a
#                              free port, or skip C when there is none
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
SCENARIOS=${BENCH_SCENARIOS:-A B C C-nocache D D-replay login wxapi}
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

REDIS_URL=${BENCH_REDIS_URL:-}
if [[ -z $REDIS_URL && ($SCENARIOS == *C* || $SCENARIOS == *wxapi*) ]]; then
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
		log "no redis-server on PATH and no BENCH_REDIS_URL: skipping C and wxapi"
		SCENARIOS=${SCENARIOS//C-nocache/}
		SCENARIOS=${SCENARIOS//C/}
		SCENARIOS=${SCENARIOS//wxapi/}
	fi
fi
KEY_PREFIX="bench-$$-$RANDOM:" # every key expires by itself; nothing is flushed

# --- one scenario --------------------------------------------------------------

# caddyfile NAME WXAUTH_BLOCK writes $TMP/NAME.Caddyfile from the template.
caddyfile() {
	local t
	t=$(<bench/Caddyfile.tmpl)
	t=${t//@DATA@/$TMP/caddy-data}
	t=${t//@PORT@/$CADDY_PORT}
	t=${t//@UPSTREAM@/$UP_PORT}
	t=${t//@WXAUTH@/$2}
	printf '%s\n' "$t" >"$TMP/$1.Caddyfile"
}

wxauth_block() { # wxauth_block [extra subdirective lines]
	printf '\twxauth {\n\t\tapp_id %s\n\t\tapp_secret {env.WX_SECRET}\n\t\tapi_base %s\n%s\t}' \
		"$APPID" "$MOCK" "${1:+$1$'\n'}"
}

CADDY_PID=
start_caddy() { # start_caddy NAME READY_PATH
	XDG_DATA_HOME=$TMP XDG_CONFIG_HOME=$TMP HOME=$TMP GOMAXPROCS=1 \
		"${PIN_CADDY[@]}" "$TMP/caddy" run --config "$TMP/$1.Caddyfile" --adapter caddyfile \
		>"$TMP/$1.caddy.log" 2>&1 &
	CADDY_PID=$!
	PIDS+=("$CADDY_PID")
	local i
	for i in $(seq 60); do
		kill -0 "$CADDY_PID" 2>/dev/null || die "caddy ($1) exited: $(cat "$TMP/$1.caddy.log")"
		"$LG" wait -url "$SITE$2" -timeout 250ms 2>/dev/null && return
	done
	die "caddy ($1) did not become ready: $(cat "$TMP/$1.caddy.log")"
}

stop_caddy() {
	kill -INT "$CADDY_PID" 2>/dev/null || true
	wait "$CADDY_PID" 2>/dev/null || true
	local keep=() pid
	for pid in "${PIDS[@]}"; do
		[[ $pid == "$CADDY_PID" ]] || keep+=("$pid")
	done
	PIDS=("${keep[@]}")
	CADDY_PID=
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
load() {
	local c=$1 d=$2 hdr=${3:-} out
	if [[ $LOADGEN == wrk && -n $VARY ]]; then
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
VARY=
cat bench/report.lua bench/forged.lua >"$TMP/forged.lua"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

declare -A LABEL RPS P50 P99 P50_1 P99_1 CPU_US CADDY_PCT CORE_PCT GEN_PCT
# run_scenario NAME LABEL WXAUTH_BLOCK EXPECT(2xx|401) TOKEN_KIND: none, valid,
# forged (one forged token, replayed), forged-each (a new forgery per request)
run_scenario() {
	local name=$1 label=$2 block=$3 expect=$4 kind=$5 ready=/bench hdr="" tok
	caddyfile "$name" "$block"
	[[ -n $block ]] && ready=/wx/.well-known/jwks.json
	log "scenario $name: $label"
	start_caddy "$name" "$ready"
	if [[ $kind == none ]]; then
		# The baseline gets the same request bytes: a Bearer value as long as
		# a real token (426 characters), which plain reverse_proxy forwards.
		tok=$(printf 'x%.0s' $(seq 426))
	else
		tok=$("$LG" token -site "$SITE" -mock "$MOCK" -user "bench-$name")
		[[ $kind == forged* ]] && tok=$("$LG" forge -token "$tok")
	fi
	hdr="Authorization: Bearer $tok"
	VARY=
	[[ $kind == forged-each ]] && VARY=1
	load "$CONNS" "$WARMUP" "$hdr" >/dev/null
	local tick0 tick1 cb0 ct0 cb1 ct1 gb0 gt0 gb1 gt1 hz r
	hz=$(getconf CLK_TCK)
	tick0=$(cpu_ticks "$CADDY_PID")
	read -r cb0 ct0 < <(core_busy "$CADDY_CPU")
	read -r gb0 gt0 < <(core_busy "$GEN_CPU")
	r=$(load "$CONNS" "$DURATION" "$hdr")
	tick1=$(cpu_ticks "$CADDY_PID")
	read -r cb1 ct1 < <(core_busy "$CADDY_CPU")
	read -r gb1 gt1 < <(core_busy "$GEN_CPU")
	local r1
	r1=$(load 1 "$LAT_DURATION" "$hdr")
	stop_caddy
	VARY=

	local reqs non2xx errors
	reqs=$(field reqs "$r") non2xx=$(field non2xx "$r") errors=$(field errors "$r")
	if [[ $expect == 2xx && $non2xx != 0 ]] || [[ $expect == 401 && $non2xx != "$reqs" ]] || [[ $errors != 0 ]]; then
		die "scenario $name: expected $expect, got $non2xx non-2xx and $errors socket errors of $reqs: $r"
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
		login | wxapi) ;;
		*) die "unknown scenario $s" ;;
		esac
	done
done

LOGIN_OUT=
if [[ " $SCENARIOS " == *" login "* ]]; then
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
if [[ " $SCENARIOS " == *" wxapi "* ]]; then
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

# --- report ----------------------------------------------------------------------

echo
echo "caddy-wxauth benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(go version | cut -d' ' -f3)"
echo "generator: $LOADGEN, ${CONNS} connections, ${DURATION}s after ${WARMUP}s warm-up; then 1 connection for ${LAT_DURATION}s"
echo "pinning: $PINNING"
echo "machine busy before the run: ${BUSY}% (load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo
if [[ ${RPS[*]+set} ]]; then
	((ROUNDS == 1)) || echo "(over $ROUNDS interleaved rounds: req/s is the best round and CPU µs/req the least, as interference only ever slows a round down; latencies and percentages are medians)"
	echo "| | scenario | req/s | p50 µs | p99 µs | ratio to A | p50 µs, 1 conn | p99 µs, 1 conn | added p99 µs, 1 conn | caddy CPU µs/req | added CPU µs/req | caddy cpu | caddy core busy | gen core busy |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for s in $SCENARIOS; do
		[[ -n ${RPS[$s]:-} ]] || continue
		# shellcheck disable=SC2086 # the arrays hold space-separated rounds
		awk -v n="$s" -v l="${LABEL[$s]}" -v rps="$(most ${RPS[$s]})" -v p50="$(median ${P50[$s]})" \
			-v p99="$(median ${P99[$s]})" -v p50_1="$(median ${P50_1[$s]})" -v p99_1="$(median ${P99_1[$s]})" \
			-v cpu="$(least ${CPU_US[$s]})" -v base="$(most ${RPS[A]:-})" -v bp99_1="$(median ${P99_1[A]:-})" \
			-v bcpu="$(least ${CPU_US[A]:-})" -v cp="$(median ${CADDY_PCT[$s]})" -v core="$(median ${CORE_PCT[$s]})" \
			-v gen="$(median ${GEN_PCT[$s]})" -v hasA="${RPS[A]:+1}" 'BEGIN {
			ratio = hasA ? sprintf("%.3f", rps / base) : "—"
			added = (hasA && n != "A") ? sprintf("%+d", p99_1 - bp99_1) : "—"
			dcpu = (hasA && n != "A") ? sprintf("%+.1f", cpu - bcpu) : "—"
			printf "| %s | %s | %.0f | %d | %d | %s | %d | %d | %s | %.1f | %s | %d%% | %d%% | %d%% |\n", n, l, rps, p50, p99, ratio, p50_1, p99_1, added, cpu, dcpu, cp, core, gen
		}'
	done
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
