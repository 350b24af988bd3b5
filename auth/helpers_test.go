package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxauth/caddy-wxauth/internal/fakeclock"
	"github.com/wxauth/caddy-wxauth/internal/faultstore"
	"github.com/wxauth/caddy-wxauth/session"
	"github.com/wxauth/caddy-wxauth/token"
	"github.com/wxauth/caddy-wxauth/wechat"
	"github.com/wxauth/caddy-wxauth/wxmock"
)

const (
	testAppID  = "wx00000000000000aa"
	testSecret = "auth-test-app-secret"
	testPrefix = "wxauth:" + testAppID + ":"
)

// rig is a Service wired to a fake WeChat and a memory store on one clock;
// store wraps mem so that a test can count, fail or hook its calls.
type rig struct {
	mock  *wxmock.Server
	wxURL string // the fake WeChat's base URL
	mem   *session.Memory
	store *faultstore.Store
	clock *fakeclock.Clock
	svc   *Service
}

type rigOptions struct {
	mock func(*wxmock.Config) // adjusts the fake WeChat
	auth func(*Config)        // adjusts the Service's config
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	clock := fakeclock.New(time.Now())
	mcfg := wxmock.Config{AppID: testAppID, AppSecret: testSecret}
	if o.mock != nil {
		o.mock(&mcfg)
	}
	mock := wxmock.New(mcfg)
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)

	mem := session.NewMemory()
	mem.Now = clock.Now
	store := faultstore.New(func() session.Store { return mem })
	tokens, err := token.New(context.Background(), token.Config{
		AppID: testAppID, TTL: 2 * time.Hour, Store: store, KeyPrefix: testPrefix, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	sealKey, err := DeriveSealKey(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		AppID:     testAppID,
		WeChat:    &wechat.Client{AppID: testAppID, AppSecret: testSecret, BaseURL: srv.URL, Retries: -1},
		Tokens:    tokens,
		Store:     store,
		KeyPrefix: testPrefix,
		SealKey:   sealKey,
		TokenTTL:  2 * time.Hour,
		Now:       clock.Now,
	}
	if o.auth != nil {
		o.auth(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{mock: mock, wxURL: srv.URL, mem: mem, store: store, clock: clock, svc: svc}
}

// login logs user in and returns the answer.
func (r *rig) login(t *testing.T, user string) *Login {
	t.Helper()
	l, err := r.svc.Login(context.Background(), r.mock.Code(user))
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return l
}

// identity logs user in and verifies the token.
func (r *rig) identity(t *testing.T, user string) (Identity, string) {
	t.Helper()
	tok := r.login(t, user).Token
	id, err := r.svc.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("verify %s's fresh token: %v", user, err)
	}
	return id, tok
}

// wantCode fails unless err is an *Error with code.
func wantCode(t *testing.T, err error, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
	return e
}
