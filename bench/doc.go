// Package bench holds caddy-wxauth's benchmarks that need more than one
// package: run.sh (requests/s and latency of Caddy with and without wxauth,
// login throughput; see BENCH.md), its helpers upstream/ and loadgen/, and
// the memory cost of a session (memory_test.go):
//
//	WXAUTH_BENCH_MEMORY=1 go test -run TestMemoryPerSession -v ./bench
//
// The memory tests skip without WXAUTH_BENCH_MEMORY=1, so `go test ./...`
// stays fast.
package bench
