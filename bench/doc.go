// Package bench holds caddy-wxauth's benchmarks that need more than one
// package: run.sh (requests/s and latency of Caddy with and without wxauth,
// with one user and with many on Redis, Redis commands per request, login
// throughput, how fast a logout reaches another instance; see BENCH.md),
// its helpers upstream/ and loadgen/ and wrk scripts (*.lua), and
// the memory cost of a session (memory_test.go):
//
//	WXAUTH_BENCH_MEMORY=1 go test -run TestMemoryPerSession -v ./bench
//
// The memory tests skip without WXAUTH_BENCH_MEMORY=1, so `go test ./...`
// stays fast.
package bench
