package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

func TestTheSessionKeyIsKeptSealedAndOnlyTheLastThree(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	var answers []*Login
	for range 5 {
		answers = append(answers, r.login(t, "alice"))
	}
	issued := r.mock.SessionKeys("alice") // oldest first
	if len(issued) != 5 {
		t.Fatalf("the mock issued %d session_keys, want 5", len(issued))
	}

	stored, err := r.store.List(ctx, r.svc.sessKeysKey(r.mock.OpenID("alice")))
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 {
		t.Fatalf("the store keeps %d session_keys, want 3 (sessionKeysKept)", len(stored))
	}
	for i, v := range stored {
		want := issued[len(issued)-1-i] // newest first
		raw, err := base64.StdEncoding.DecodeString(want)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(v, []byte(want)) || bytes.Contains(v, raw) {
			t.Fatalf("stored value %d holds the session_key in the clear", i)
		}
		got, err := r.svc.seal.open(v, []byte(answers[0].OpenID))
		if err != nil || string(got) != want {
			t.Fatalf("stored value %d opens to %q, %v; want the %d-th newest session_key", i, got, err, i+1)
		}
	}
	for _, l := range answers {
		b, _ := json.Marshal(l)
		for _, k := range issued {
			if strings.Contains(string(b), k) || strings.Contains(l.Token, k) {
				t.Fatalf("a login answer holds a session_key: %s", b)
			}
		}
	}
}

func TestAReplayedCodeReachesWeChatOnce(t *testing.T) {
	r := newRig(t, rigOptions{mock: func(c *wxmock.Config) { c.Latency = 20 * time.Millisecond }})
	ctx := context.Background()
	code := r.mock.Code("alice")

	const racers = 8
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			_, errs[i] = r.svc.Login(ctx, code)
		})
	}
	close(start)
	wg.Wait()

	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantCode(t, err, CodeInvalidCode)
	}
	if ok != 1 {
		t.Fatalf("%d of %d racing logins with one code succeeded, want 1", ok, racers)
	}
	if n := r.mock.Stats().Calls[wxmock.PathJSCode2Session]; n != 1 {
		t.Fatalf("WeChat saw the code %d times, want 1", n)
	}
}

func TestACodeWeChatRefusedOrNeverAnsweredLeavesNothingBehind(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	mem := r.mem

	code := r.mock.Code("alice")
	r.mock.Fail(wxmock.PathJSCode2Session, -1, 1) // the client is set not to retry
	_, err := r.svc.Login(ctx, code)
	wantCode(t, err, CodeUpstreamError)
	if n := mem.Len(); n != 0 {
		t.Fatalf("a code WeChat never answered left %d keys in the store", n)
	}
	if _, err := r.svc.Login(ctx, code); err != nil {
		t.Fatalf("retrying a code WeChat was too busy to redeem: %v", err)
	}

	before := mem.Len()
	for i := range 100 {
		_, err = r.svc.Login(ctx, fmt.Sprintf("made-up-code-%d", i))
		wantCode(t, err, CodeInvalidCode)
	}
	if n := mem.Len(); n != before {
		t.Fatalf("100 codes WeChat refused grew the store from %d to %d keys", before, n)
	}
}

func TestAnAcceptedCodeStaysClaimedForFiveMinutes(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	code := r.mock.Code("alice")
	if _, err := r.svc.Login(ctx, code); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(codeTTL - time.Second)
	_, err := r.svc.Login(ctx, code)
	wantCode(t, err, CodeInvalidCode)
	if n := r.mock.Stats().Calls[wxmock.PathJSCode2Session]; n != 1 {
		t.Fatalf("WeChat saw the replayed code: %d calls, want 1", n)
	}
}

func TestCodesThatCannotBeWeChatsAreRefusedWithoutCallingWeChat(t *testing.T) {
	r := newRig(t, rigOptions{})
	for _, tc := range []struct {
		name, code, want string
	}{
		{"empty", "", CodeInvalidRequest},
		{"129 bytes", strings.Repeat("a", maxCodeLen+1), CodeInvalidCode},
		{"a space", "0a1b 2c3d", CodeInvalidCode},
		{"a tab", "0a1b\t2c3d", CodeInvalidCode},
		{"a NUL", "0a1b\x002c3d", CodeInvalidCode},
		{"DEL", "0a1b\x7f", CodeInvalidCode},
		{"a newline", "0a1b\n", CodeInvalidCode},
		{"non-ASCII", "0a1b码", CodeInvalidCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.svc.Login(context.Background(), tc.code)
			wantCode(t, err, tc.want)
		})
	}
	if n := r.mock.Stats().Calls[wxmock.PathJSCode2Session]; n != 0 {
		t.Fatalf("WeChat was called %d times", n)
	}
	// The longest printable code is sent: WeChat decides.
	_, err := r.svc.Login(context.Background(), strings.Repeat("~", maxCodeLen))
	wantCode(t, err, CodeInvalidCode)
	if n := r.mock.Stats().Calls[wxmock.PathJSCode2Session]; n != 1 {
		t.Fatalf("a 128-byte printable code reached WeChat %d times, want 1", n)
	}
}

func TestLoginMapsWeChatErrorsToSpecCodes(t *testing.T) {
	r := newRig(t, rigOptions{})
	tests := []struct {
		name    string
		errcode int
		want    string
	}{
		{"an invalid code", 40029, CodeInvalidCode},
		{"a used code", 40163, CodeInvalidCode},
		{"a blocked user", 40226, CodeUserBlocked},
		{"the frequency limit", 45011, CodeRateLimited},
		{"WeChat busy", -1, CodeUpstreamError},
		{"an invalid AppSecret", 40125, CodeUpstreamError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.mock.Fail(wxmock.PathJSCode2Session, tc.errcode, 1)
			_, err := r.svc.Login(context.Background(), r.mock.Code("alice"))
			e := wantCode(t, err, tc.want)
			if strings.Contains(e.Message, testSecret) || strings.Contains(e.Error(), testSecret) {
				t.Fatalf("the error %q holds the AppSecret", e.Error())
			}
		})
	}
}
