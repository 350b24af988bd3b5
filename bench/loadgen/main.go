// Command loadgen is bench/run.sh's helper: everything the benchmark needs
// besides wrk, with the standard library only.
//
//	loadgen freeport N                       print N free loopback ports
//	loadgen wait -url U [-timeout 30s]       poll U until it answers 200
//	loadgen token -site S -mock M [-user U]  log in through S/wx/login with a
//	                                         code from M/mock/code; print the token
//	loadgen forge -token T                   print T with another user in its
//	                                         payload and its signature kept
//	loadgen login -site S -mock M -c 1,8,32 -d 5s -latency 20ms
//	                                         login throughput with fresh codes
//	loadgen tokens -site S -mock M -n 20000 -c 64 -o F
//	                                         log n distinct users in, c at a time;
//	                                         write their tokens to F, one a line
//	loadgen http -url U [-H 'K: V'] -c 32 -d 10s [-tokens F] [-n N]
//	                                         closed-loop GET load, the fallback
//	                                         when wrk is not installed; -tokens
//	                                         rotates the Bearer over F's tokens
//	loadgen propagation -a A -b B -mock M -n 100 -c 10 -timeout 3s
//	                                         log in on A, verify on B, log out on
//	                                         A, poll B until 401: how long a
//	                                         logout takes to reach another instance
//	loadgen wxapi -direct U -via V -d 4s     one connection, alternating a WeChat API
//	                                         call straight to wxmock and through wxapi
//	loadgen burst -urls U,V -n 1000          n GETs at once, spread over the URLs
//	loadgen fetches -mock M -appid A         stable_token fetches wxmock counted for A
//
// The load modes print one line per run, which run.sh parses:
//
//	RESULT rps=… p50=… p99=… reqs=… non2xx=… errors=…   (latencies in µs)
//
// and propagation prints RESULT trials=… propagated=… p50=… p99=… max=…
// timeouts=… errors=… timeout_ms=….
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen freeport|wait|token|forge|login|tokens|http|propagation|wxapi|burst|fetches [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"freeport":    freePorts,
		"wait":        wait,
		"token":       token,
		"forge":       forge,
		"login":       loginLoad,
		"tokens":      manyTokens,
		"http":        httpLoad,
		"propagation": propagation,
		"wxapi":       wxapiLatency,
		"burst":       burst,
		"fetches":     fetches,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadgen: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
