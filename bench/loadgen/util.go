package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// freePorts prints N loopback ports nobody listens on right now. All N
// listeners are open at once, so the ports differ.
func freePorts(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return fmt.Errorf("bad count %q", args[0])
		}
	}
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// wait polls url until it answers 200.
func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	u := fs.String("url", "", "URL to poll")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	client := &http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(*u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v", *u, *timeout, last)
}

// mintCode asks wxmock for the code wx.login would hand the mini program.
func mintCode(client *http.Client, mock, user string) (string, error) {
	resp, err := client.Get(mock + "/mock/code?user=" + url.QueryEscape(user))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Code == "" {
		return "", fmt.Errorf("mock/code: status %d, %v", resp.StatusCode, err)
	}
	return v.Code, nil
}

// login posts code to site's /wx/login and returns the token.
func login(client *http.Client, site, code string) (string, error) {
	body, _ := json.Marshal(map[string]string{"code": code})
	resp, err := client.Post(site+"/wx/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login: %d %s", resp.StatusCode, b)
	}
	var v struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Token == "" {
		return "", fmt.Errorf("login: no token in %s", b)
	}
	return v.Token, nil
}

func token(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	site := fs.String("site", "", "Caddy's base URL")
	mock := fs.String("mock", "", "wxmock's base URL")
	user := fs.String("user", "bench-user", "wxmock user to log in")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	code, err := mintCode(client, *mock, *user)
	if err != nil {
		return err
	}
	tok, err := login(client, *site, code)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

// forge swaps the token's subject for another openid and keeps header and
// signature: the kid names a real key, so the verifier must run the
// signature check to refuse it — the dearest refusal an attacker can buy.
func forge(args []string) error {
	fs := flag.NewFlagSet("forge", flag.ContinueOnError)
	tok := fs.String("token", "", "a genuine token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	parts := bytes.Split([]byte(*tok), []byte("."))
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		return err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return err
	}
	claims["sub"] = "o-forged-admin-0000000000000" // 28 characters, as an openid
	payload, _ = json.Marshal(claims)
	parts[1] = []byte(base64.RawURLEncoding.EncodeToString(payload))
	fmt.Println(string(bytes.Join(parts, []byte("."))))
	return nil
}

// result is one load run, printed the way run.sh parses it.
type result struct {
	elapsed time.Duration
	lat     []time.Duration
	non2xx  int
	errors  int
}

func (r result) print(extra string) {
	slices.Sort(r.lat)
	fmt.Printf("RESULT rps=%.1f p50=%d p99=%d reqs=%d non2xx=%d errors=%d%s\n",
		float64(len(r.lat))/r.elapsed.Seconds(), percentile(r.lat, 50).Microseconds(),
		percentile(r.lat, 99).Microseconds(), len(r.lat), r.non2xx, r.errors, extra)
}

// percentile returns the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}
