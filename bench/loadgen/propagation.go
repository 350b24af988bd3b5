package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// propagation measures how long a logout on one instance takes to be refused
// by another sharing its store. Each trial logs a fresh user in on A, has B
// verify the token (200, so B now holds it as valid), logs it out on A (204),
// then asks B again and again until B answers 401 or -timeout has passed
// since the logout's answer. It prints
//
//	RESULT trials=… propagated=… p50=… p99=… max=… timeouts=… errors=…
//
// with the latencies (µs, from the logout's answer to B's first 401) over the
// trials that propagated; timeouts counts the others.
func propagation(args []string) error {
	fs := flag.NewFlagSet("propagation", flag.ContinueOnError)
	siteA := fs.String("a", "", "instance A's base URL (login and logout)")
	siteB := fs.String("b", "", "instance B's base URL (verification)")
	mock := fs.String("mock", "", "wxmock's base URL")
	path := fs.String("path", "/bench", "a path behind wxauth on B that answers 200 with a valid token")
	n := fs.Int("n", 100, "trials")
	c := fs.Int("c", 10, "trials in flight at once")
	timeout := fs.Duration("timeout", 3*time.Second, "how long after the logout's answer a trial waits for B's 401")
	fast := fs.Duration("fast", 100*time.Millisecond, "B is polled every -poll for this long after the logout, then every -slow")
	poll := fs.Duration("poll", time.Millisecond, "pause between polls of B at first")
	slow := fs.Duration("slow", 10*time.Millisecond, "pause between polls of B after -fast")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *siteA == "" || *siteB == "" || *mock == "" || *n < 1 || *c < 1 {
		return errors.New("-a, -b, -mock, a positive -n and a positive -c are required")
	}
	var run [4]byte
	rand.Read(run[:])
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * *c, MaxIdleConns: 4 * *c, DisableCompression: true},
	}
	defer client.CloseIdleConnections()
	p := prober{client: client, a: *siteA, b: *siteB + *path, mock: *mock}

	// B may learn A's signing key only when it first meets a token signed
	// with it (the key is made at the first login): one login, not counted,
	// waits for that before the trials start.
	tok, err := p.login(fmt.Sprintf("prop-%x-warmup", run))
	if err != nil {
		return err
	}
	if err := p.verifiedOnB(tok, 10*time.Second); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	var (
		mu       sync.Mutex
		lat      []time.Duration
		timeouts int
		errs     int
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range *c {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				d, ok, err := p.trial(fmt.Sprintf("prop-%x-%d", run, i), *timeout, *fast, *poll, *slow)
				mu.Lock()
				switch {
				case err != nil:
					errs++
					if firstErr == nil {
						firstErr = err
					}
				case ok:
					lat = append(lat, d)
				default:
					timeouts++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	var maxLat time.Duration
	if len(lat) > 0 {
		maxLat = lat[len(lat)-1]
	}
	fmt.Printf("RESULT trials=%d propagated=%d p50=%d p99=%d max=%d timeouts=%d errors=%d timeout_ms=%d\n",
		*n, len(lat), percentile(lat, 50).Microseconds(), percentile(lat, 99).Microseconds(),
		maxLat.Microseconds(), timeouts, errs, timeout.Milliseconds())
	if firstErr != nil {
		return fmt.Errorf("%d of %d trials failed before the logout was measured, the first with: %w", errs, *n, firstErr)
	}
	return nil
}

type prober struct {
	client     *http.Client
	a, b, mock string
}

func (p prober) login(user string) (string, error) {
	code, err := mintCode(p.client, p.mock, user)
	if err != nil {
		return "", err
	}
	return login(p.client, p.a, code)
}

// status GETs (or POSTs) u with tok as Bearer and returns the status.
func (p prober) status(method, u, tok string) (int, error) {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// verifiedOnB asks B until it answers 200 for tok, for up to within.
func (p prober) verifiedOnB(tok string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		st, err := p.status(http.MethodGet, p.b, tok)
		if err != nil {
			return err
		}
		if st == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("B answered %d, not 200, to a fresh token for %v", st, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trial runs one login → verify on B → logout on A → poll B. ok says whether
// B refused the token within timeout; d is then the time from the logout's
// answer to B's first 401.
func (p prober) trial(user string, timeout, fast, poll, slow time.Duration) (d time.Duration, ok bool, err error) {
	tok, err := p.login(user)
	if err != nil {
		return 0, false, err
	}
	if err := p.verifiedOnB(tok, 2*time.Second); err != nil {
		return 0, false, err
	}
	st, err := p.status(http.MethodPost, p.a+"/wx/logout", tok)
	if err != nil {
		return 0, false, err
	}
	if st != http.StatusNoContent && st != http.StatusOK {
		return 0, false, fmt.Errorf("logout on A answered %d", st)
	}
	t0 := time.Now()
	for {
		st, err := p.status(http.MethodGet, p.b, tok)
		if err != nil {
			return 0, false, err
		}
		since := time.Since(t0)
		switch {
		case st == http.StatusUnauthorized && since <= timeout:
			return since, true, nil
		case st == http.StatusUnauthorized:
			return 0, false, nil
		case st != http.StatusOK:
			return 0, false, fmt.Errorf("B answered %d to a logged-out token", st)
		case since >= timeout:
			return 0, false, nil
		case since < fast:
			time.Sleep(poll)
		default:
			time.Sleep(slow)
		}
	}
}
