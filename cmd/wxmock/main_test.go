package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

func TestParseFlags(t *testing.T) {
	defaults := options{
		listen:   "127.0.0.1:9090",
		appID:    wxmock.DemoAppID,
		secret:   wxmock.DemoAppSecret,
		tokenTTL: 2 * time.Hour,
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr string
	}{
		{name: "no flags gives the demo app on localhost:9090", want: defaults},
		{name: "every flag is read",
			args: []string{"-listen", ":0", "-appid", "wxabc", "-secret", "s", "-unionid", "-latency", "20ms", "-token-ttl", "1m", "-country-code-number"},
			want: options{listen: ":0", appID: "wxabc", secret: "s", unionID: true, latency: 20 * time.Millisecond, tokenTTL: time.Minute, countryCodeNumber: true}},
		{name: "the secret comes from WXMOCK_SECRET", env: map[string]string{"WXMOCK_SECRET": "from-env"},
			want: func() options { o := defaults; o.secret = "from-env"; return o }()},
		{name: "-secret beats WXMOCK_SECRET", args: []string{"-secret", "flag"}, env: map[string]string{"WXMOCK_SECRET": "from-env"},
			want: func() options { o := defaults; o.secret = "flag"; return o }()},
		{name: "a zero token TTL is refused", args: []string{"-token-ttl", "0s"}, wantErr: "-token-ttl"},
		{name: "a negative latency is refused", args: []string{"-latency", "-1s"}, wantErr: "-latency"},
		{name: "an empty appid is refused", args: []string{"-appid", ""}, wantErr: "-appid"},
		{name: "stray arguments are refused", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "unknown flags are refused", args: []string{"-port", "1"}, wantErr: "-port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCountryCodeNumberHelpSaysRealAnswersSendAString(t *testing.T) {
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h returned %v, want flag.ErrHelp", err)
	}
	_, after, ok := strings.Cut(help.String(), "-country-code-number")
	line, _, _ := strings.Cut(strings.TrimLeft(after, "\n\t "), "\n")
	for _, want := range []string{"number", "docs", "real WeChat answers send a string"} {
		if !ok || !strings.Contains(line, want) {
			t.Errorf("help for -country-code-number = %q, want it to mention %q", line, want)
		}
	}
}

func TestServeAnswersUntilCancelledThenShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := options{appID: "wxabc", secret: "do-not-log-me", tokenTTL: time.Minute}
	go func() { done <- serve(ctx, ln, o, log.New(&logs, "", 0)) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/mock/code?user=alice")
	if err != nil {
		t.Fatalf("GET /mock/code: %v", err)
	}
	var body struct{ Code string }
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || body.Code == "" {
		t.Fatalf("/mock/code answered no code (err %v)", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
	if got := logs.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, ln.Addr().String()) || strings.Contains(got, o.secret) {
		t.Errorf("log = %q, want one line naming the address and not the secret", got)
	}
}
