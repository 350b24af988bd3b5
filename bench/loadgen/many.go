package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// manyTokens logs n distinct users in through site/wx/login, each with a
// fresh code from mock/mock/code, c at a time, and writes their tokens to
// -o, one a line: the token file the "many users" scenario rotates over.
func manyTokens(args []string) error {
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	site := fs.String("site", "", "Caddy's base URL")
	mock := fs.String("mock", "", "wxmock's base URL")
	n := fs.Int("n", 20000, "distinct users to log in")
	c := fs.Int("c", 64, "logins in flight at once")
	out := fs.String("o", "", "file to write the tokens to, one a line")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *n < 1 || *c < 1 {
		return errors.New("-o, a positive -n and a positive -c are required")
	}
	var run [4]byte
	rand.Read(run[:])
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *c, MaxIdleConns: 2 * *c},
	}
	defer client.CloseIdleConnections()
	tokens := make([]string, *n)
	var (
		next     atomic.Int64
		failed   atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(*timeout)
	for range *c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= *n || time.Now().After(deadline) || failed.Load() > 0 {
					return
				}
				code, err := mintCode(client, *mock, fmt.Sprintf("many-%x-%d", run, i))
				if err == nil {
					tokens[i], err = login(client, *site, code)
				}
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("logging %d users in: %w", *n, firstErr)
	}
	for i, t := range tokens {
		if t == "" {
			return fmt.Errorf("user %d of %d not logged in after %v", i+1, *n, *timeout)
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, t := range tokens {
		w.WriteString(t)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(os.Stderr, "loadgen tokens: %d users logged in in %.1fs (%.0f/s), %d at a time\n",
		*n, took.Seconds(), float64(*n)/took.Seconds(), *c)
	return nil
}

// readTokens reads a token file written by manyTokens.
func readTokens(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tokens []string
	for line := range strings.Lines(string(b)) {
		if t := strings.TrimSpace(line); t != "" {
			tokens = append(tokens, t)
		}
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s holds no token", path)
	}
	return tokens, nil
}
