package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

const (
	shopAppID, gameAppID = "wxa1000000000000aa", "wxb2000000000000bb"
)

// twoMiniPrograms is a wxauth app with a shop and a game against one
// in-process fake WeChat serving both.
func twoMiniPrograms(t *testing.T) (*App, *wxmock.Server, caddy.Context) {
	t.Helper()
	mock := wxmock.New(wxmock.Config{Apps: []wxmock.App{{AppID: shopAppID, AppSecret: "shop-secret"}, {AppID: gameAppID, AppSecret: "game-secret"}}})
	srv := httptest.NewServer(mock)
	t.Cleanup(srv.Close)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	app := &App{Settings: Settings{APIBase: srv.URL}, Accounts: []AccountConfig{
		{Kind: kindMiniProgram, Name: "shop", AppID: shopAppID, AppSecret: "shop-secret"},
		{Kind: kindMiniProgram, Name: "game", AppID: gameAppID, AppSecret: "game-secret"},
	}}
	if err := app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Cleanup() })
	return app, mock, ctx
}

func handlerOf(t *testing.T, app *App, ctx caddy.Context, apps ...string) *Handler {
	t.Helper()
	h := &Handler{Apps: apps, app: app}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	h.logger = zap.NewNop()
	return h
}

func TestAHandlerOfTwoMiniProgramsPicksTheAccountOfEachLoginAndToken(t *testing.T) {
	app, mock, ctx := twoMiniPrograms(t)
	both, onlyGame := handlerOf(t, app, ctx), handlerOf(t, app, ctx, "game")

	login := func(h *Handler, body, referer string) (int, map[string]any) {
		r := httptest.NewRequest(http.MethodPost, "/wx/login", strings.NewReader(body))
		if referer != "" {
			r.Header.Set("Referer", referer)
		}
		rec, _, err := serve(h, r)
		if err != nil {
			t.Fatal(err)
		}
		var answer map[string]any
		json.Unmarshal(rec.Body.Bytes(), &answer)
		return rec.Code, answer
	}
	for _, tc := range []struct {
		name, body, referer, want string // want: the appid answered, or the error
	}{
		{"appid in the body", `{"code":"` + mock.App(gameAppID).Code("a") + `","appid":"` + gameAppID + `"}`, "", gameAppID},
		{"appid from the Referer", `{"code":"` + mock.App(shopAppID).Code("a") + `"}`, "https://servicewechat.com/" + shopAppID + "/devtools/page-frame.html", shopAppID},
		{"the body wins over the Referer", `{"code":"` + mock.App(gameAppID).Code("b") + `","appid":"` + gameAppID + `"}`, "https://servicewechat.com/" + shopAppID + "/3/page-frame.html", gameAppID},
		{"a Referer that is not a mini program's", `{"code":"x"}`, "https://servicewechat.com.evil/" + shopAppID + "/1/page-frame.html", "invalid_request"},
		{"no appid at all", `{"code":"x"}`, "", "invalid_request"},
		{"an appid not served", `{"code":"x","appid":"wx0"}`, "", "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, answer := login(both, tc.body, tc.referer)
			if got := answer["appid"]; status == http.StatusOK && got != tc.want {
				t.Fatalf("answered appid %v, want %s", got, tc.want)
			}
			if got := answer["error"]; status != http.StatusOK && got != tc.want {
				t.Fatalf("%d %v, want %s", status, answer, tc.want)
			}
		})
	}

	// A token routes to its own account, and only to the handler's accounts.
	status, answer := login(both, `{"code":"`+mock.App(shopAppID).Code("c")+`","appid":"`+shopAppID+`"}`, "")
	if status != http.StatusOK {
		t.Fatalf("login: %d %v", status, answer)
	}
	tok := answer["token"].(string)
	for _, tc := range []struct {
		name   string
		h      *Handler
		passed bool
	}{{"on a handler of both", both, true}, {"on a handler of the game only", onlyGame, false}} {
		r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		rec, called, err := serve(tc.h, r)
		if err != nil || called != tc.passed {
			t.Fatalf("the shop's token %s: %d %s, passed %v", tc.name, rec.Code, rec.Body, called)
		}
	}
	if _, single := onlyGame.byAppID[shopAppID]; single {
		t.Fatal("the game-only handler serves the shop")
	}
}
