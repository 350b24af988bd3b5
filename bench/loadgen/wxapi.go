package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// wxapiLatency alternates one-connection GETs of the same WeChat API straight
// to WeChat (wxmock, with a token), through a plain Caddy reverse_proxy (with
// the token: Caddy's own hop) and through wxapi (without one), so all see the
// same machine at the same moments; it prints one RESULT line each, with
// path=direct, path=reverse_proxy and path=wxapi.
func wxapiLatency(args []string) error {
	fs := flag.NewFlagSet("wxapi", flag.ContinueOnError)
	direct := fs.String("direct", "", "URL straight to WeChat, access_token included")
	proxy := fs.String("proxy", "", "the same call through a plain reverse_proxy")
	via := fs.String("via", "", "the same call through wxapi")
	d := fs.Duration("d", 4*time.Second, "duration")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	var results [3]result
	start := time.Now()
	for time.Since(start) < *d {
		for i, u := range []string{*direct, *proxy, *via} {
			t0 := time.Now()
			status, err := get(client, u)
			if err != nil {
				results[i].errors++
				continue
			}
			results[i].lat = append(results[i].lat, time.Since(t0))
			if status > 399 {
				results[i].non2xx++
			}
		}
	}
	for i, name := range []string{"direct", "reverse_proxy", "wxapi"} {
		results[i].elapsed = time.Since(start)
		results[i].print(" path=" + name)
	}
	return nil
}

// burst sends n GETs at once, spread over urls, and prints one RESULT line.
func burst(args []string) error {
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	urls := fs.String("urls", "", "comma-separated URLs, used in turn")
	n := fs.Int("n", 1000, "concurrent requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets := strings.Split(*urls, ",")
	if *urls == "" {
		return errors.New("-urls is required")
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *n, MaxConnsPerHost: *n, DisableCompression: true}}
	var (
		mu  sync.Mutex
		all result
		wg  sync.WaitGroup
	)
	gate := make(chan struct{})
	start := time.Now()
	for i := range *n {
		wg.Go(func() {
			<-gate
			t0 := time.Now()
			status, err := get(client, targets[i%len(targets)])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				all.errors++
				return
			}
			all.lat = append(all.lat, time.Since(t0))
			if status > 399 {
				all.non2xx++
			}
		})
	}
	close(gate)
	wg.Wait()
	all.elapsed = time.Since(start)
	all.print("")
	return nil
}

// get GETs u and reads the answer to its end.
func get(client *http.Client, u string) (int, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, nil
}

// fetches prints how many access_tokens wxmock at -mock has handed appid's
// callers through stable_token.
func fetches(args []string) error {
	fs := flag.NewFlagSet("fetches", flag.ContinueOnError)
	mock := fs.String("mock", "", "wxmock base URL")
	appid := fs.String("appid", "", "the app")
	if err := fs.Parse(args); err != nil {
		return err
	}
	resp, err := http.Get(*mock + "/mock/stats")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var stats struct {
		Apps map[string]struct {
			TokenFetches map[string]int `json:"token_fetches"`
		} `json:"apps"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		return fmt.Errorf("decoding /mock/stats: %w", err)
	}
	fmt.Println(stats.Apps[*appid].TokenFetches["stable_token"])
	return nil
}
