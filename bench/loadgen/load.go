package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loginLoad measures POST /wx/login throughput at each concurrency with
// fresh, single-use codes minted before the timed part. Each login waits at
// least -latency for WeChat, so a worker needs at most d/latency codes.
func loginLoad(args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	site := fs.String("site", "", "Caddy's base URL")
	mock := fs.String("mock", "", "wxmock's base URL")
	levels := fs.String("c", "1,8,32", "comma-separated concurrency levels")
	d := fs.Duration("d", 5*time.Second, "timed duration per level")
	latency := fs.Duration("latency", 20*time.Millisecond, "wxmock's -latency (sizes the code supply)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *latency <= 0 {
		return errors.New("-latency must be positive: it bounds how many codes a worker can use")
	}
	var run [4]byte
	rand.Read(run[:])
	for _, s := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 {
			return fmt.Errorf("bad concurrency %q", s)
		}
		perWorker := int(*d / *latency) + 2
		codes, err := mintCodes(*mock, fmt.Sprintf("load-%x-c%d", run, c), c, perWorker)
		if err != nil {
			return err
		}
		client := &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxIdleConns: c},
		}
		res, exhausted := runLogins(client, *site, codes, *d)
		extra := fmt.Sprintf(" c=%d ideal=%.1f", c, float64(c)/latency.Seconds())
		if exhausted {
			extra += " exhausted=1"
		}
		res.print(extra)
		client.CloseIdleConnections()
	}
	return nil
}

// mintCodes returns workers slices of n fresh codes, each for its own user.
func mintCodes(mock, prefix string, workers, n int) ([][]string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	codes := make([][]string, workers)
	for w := range codes {
		codes[w] = make([]string, n)
	}
	type job struct{ w, i int }
	jobs := make(chan job)
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				code, err := mintCode(client, mock, fmt.Sprintf("%s-w%d-%d", prefix, j.w, j.i))
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					continue
				}
				codes[j.w][j.i] = code
			}
		}()
	}
	for w := range workers {
		for i := range n {
			jobs <- job{w, i}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, fmt.Errorf("minting codes: %w", err)
	default:
	}
	return codes, nil
}

func runLogins(client *http.Client, site string, codes [][]string, d time.Duration) (result, bool) {
	var (
		mu        sync.Mutex
		all       result
		exhausted bool
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, mine := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r result
			i := 0
			for ; i < len(mine) && time.Now().Before(deadline); i++ {
				body := `{"code":"` + mine[i] + `"}`
				t0 := time.Now()
				resp, err := client.Post(site+"/wx/login", "application/json", strings.NewReader(body))
				if err != nil {
					r.errors++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				r.lat = append(r.lat, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					r.non2xx++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all.lat = append(all.lat, r.lat...)
			all.non2xx += r.non2xx
			all.errors += r.errors
			if i == len(mine) && time.Now().Before(deadline) {
				exhausted = true
			}
		}()
	}
	wg.Wait()
	all.elapsed = time.Since(start)
	return all, exhausted
}

// headerFlags collects repeated -H 'Name: value' flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// httpLoad is a closed-loop GET load generator: c connections, each sending
// its next request as soon as the previous answer is read. run.sh uses it
// only when wrk cannot be installed; Go's client costs more CPU per request
// than wrk, so its absolute numbers are lower.
func httpLoad(args []string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	u := fs.String("url", "", "URL to GET")
	c := fs.Int("c", 32, "connections")
	d := fs.Duration("d", 10*time.Second, "duration")
	var hdrs headerFlags
	fs.Var(&hdrs, "H", "request header 'Name: value' (repeatable)")
	vary := fs.Bool("vary", false, "make the Authorization value of every request differ (six characters near its end\nreplaced by a counter), as bench/forged.lua does for wrk")
	tokenFile := fs.String("tokens", "", "a token file (loadgen tokens -o): each request carries the next of its tokens as\n'Authorization: Bearer', round-robin over all connections, as bench/tokens.lua does for wrk")
	count := fs.Int64("n", 0, "stop after this many requests (0: run for -d); with -tokens and -n equal to their\nnumber, every token is sent once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var tokens []string
	if *tokenFile != "" {
		var err error
		if tokens, err = readTokens(*tokenFile); err != nil {
			return err
		}
	}
	header := http.Header{}
	for _, h := range hdrs {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("bad header %q", h)
		}
		header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *c, MaxIdleConns: *c, DisableCompression: true},
	}
	var (
		mu  sync.Mutex
		all result
		wg  sync.WaitGroup
		seq atomic.Uint64
	)
	auth := header.Get("Authorization")
	if *vary && len(auth) < 16 {
		return errors.New("-vary needs an Authorization header of 16 characters or more")
	}
	if *vary && tokens != nil {
		return errors.New("-vary and -tokens exclude each other")
	}
	// The rotation starts at a random token, so that a run does not begin
	// with the tokens the previous run (the warm-up) sent last.
	var offset uint64
	if len(tokens) > 0 {
		offset = uint64(mrand.Int64N(int64(len(tokens))))
	}
	start := time.Now()
	deadline := start.Add(*d)
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r result
			buf := make([]byte, 4096)
			for time.Now().Before(deadline) {
				k := seq.Add(1)
				if *count > 0 && k > uint64(*count) {
					break
				}
				req, _ := http.NewRequest(http.MethodGet, *u, nil)
				req.Header = header.Clone()
				switch {
				case *vary:
					req.Header.Set("Authorization", varied(auth, k))
				case tokens != nil:
					req.Header.Set("Authorization", "Bearer "+tokens[(offset+k-1)%uint64(len(tokens))])
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					r.errors++
					continue
				}
				io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				r.lat = append(r.lat, time.Since(t0))
				if resp.StatusCode > 399 {
					r.non2xx++
				}
			}
			mu.Lock()
			all.lat = append(all.lat, r.lat...)
			all.non2xx += r.non2xx
			all.errors += r.errors
			mu.Unlock()
		}()
	}
	wg.Wait()
	all.elapsed = time.Since(start)
	all.print("")
	return nil
}

// varied replaces six characters near the end of s with n in base64url
// digits, leaving the last two alone (they may carry padding bits).
func varied(s string, n uint64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := []byte(s)
	for i := len(b) - 8; i < len(b)-2; i++ {
		b[i] = alphabet[n%64]
		n /= 64
	}
	return string(b)
}
