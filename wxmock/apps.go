package wxmock

import (
	"fmt"
	"maps"
	"time"
)

// App is the credentials of one WeChat app — a mini program or an official
// account — that the fake serves: jscode2session and the token endpoints
// accept exactly this AppID with this AppSecret.
type App struct {
	AppID, AppSecret string
}

// AppHandle is one app of a Server. Its methods are the Server's own helpers
// (Code, OpenID, PhoneCode, SessionKey, EncryptedProfile, …) for this app
// instead of the default one; get it with Server.App. It shares the Server's
// lock and is safe for concurrent use.
type AppHandle struct {
	s          *Server
	id, secret string

	// Guarded by s.mu.
	users      map[string]bool     // openids of the app's users (see knowLocked)
	sessions   map[string][]string // session_keys by openid, oldest first
	stable     *accessToken        // current stable_token token
	legacy     *accessToken        // latest cgi-bin/token token
	lastForced time.Time           // last forced stable_token refresh
	fetches    map[string]int      // successful token answers, by endpoint
	issued     map[string]int      // distinct tokens minted, by endpoint
	oauthNext  []nextLogin         // who the next authorize pages log in, first first
}

// AppID returns the app's AppID.
func (a *AppHandle) AppID() string { return a.id }

// App returns the app with AppID appid. It panics if the fake does not serve
// that app: a test acting for an app WeChat would not know could pass for the
// wrong reason.
func (s *Server) App(appid string) *AppHandle {
	a := s.byID[appid]
	if a == nil {
		panic(fmt.Sprintf("wxmock: unknown AppID %q (served: %v)", appid, s.AppIDs()))
	}
	return a
}

// AppIDs returns the AppIDs the fake serves, the default app first.
func (s *Server) AppIDs() []string {
	ids := make([]string, len(s.apps))
	for i, a := range s.apps {
		ids[i] = a.id
	}
	return ids
}

// appsOf lists the apps cfg describes, the default first: the AppID/AppSecret
// pair (defaults filled in) unless both are empty and Apps is not, then Apps
// in order. An AppID listed twice with the same secret is served once.
func appsOf(cfg Config) ([]App, error) {
	var apps []App
	if cfg.AppID != "" || cfg.AppSecret != "" || len(cfg.Apps) == 0 {
		app := App{AppID: cfg.AppID, AppSecret: cfg.AppSecret}
		if app.AppID == "" {
			app.AppID = DemoAppID
		}
		if app.AppSecret == "" {
			app.AppSecret = DemoAppSecret
		}
		apps = append(apps, app)
	}
	seen := make(map[string]string)
	for _, app := range apps {
		seen[app.AppID] = app.AppSecret
	}
	for i, app := range cfg.Apps {
		switch secret, dup := seen[app.AppID]; {
		case app.AppID == "":
			return nil, fmt.Errorf("wxmock: Config.Apps[%d] has no AppID", i)
		case app.AppSecret == "":
			return nil, fmt.Errorf("wxmock: Config.Apps[%d] (%s) has no AppSecret", i, app.AppID)
		case dup && secret != app.AppSecret:
			return nil, fmt.Errorf("wxmock: AppID %s is configured twice with different AppSecrets", app.AppID)
		case dup:
			continue
		}
		seen[app.AppID] = app.AppSecret
		apps = append(apps, app)
	}
	return apps, nil
}

func (s *Server) addApp(app App) {
	a := &AppHandle{s: s, id: app.AppID, secret: app.AppSecret, users: make(map[string]bool), sessions: make(map[string][]string)}
	a.resetCounters()
	s.apps = append(s.apps, a)
	s.byID[a.id] = a
}

func (a *AppHandle) resetCounters() {
	a.fetches = map[string]int{endpointStable: 0, endpointToken: 0}
	a.issued = map[string]int{endpointStable: 0, endpointToken: 0}
}

// AppStats counts what clients did with one app's credentials.
type AppStats struct {
	// TokenFetches counts successful answers that handed out one of this
	// app's access_tokens, by endpoint, as Stats.TokenFetches does for all.
	TokenFetches map[string]int `json:"token_fetches"`

	// TokensIssued counts distinct access_tokens minted for this app, by
	// endpoint.
	TokensIssued map[string]int `json:"tokens_issued"`
}

func (a *AppHandle) stats() AppStats {
	return AppStats{TokenFetches: maps.Clone(a.fetches), TokensIssued: maps.Clone(a.issued)}
}

// knowLocked makes user a user of app a, as opening the app does on WeChat,
// and returns their openid. Every helper that names a user for an app (Code,
// PhoneCode, OpenID, …) calls it; the APIs that address a user by openid
// (subscribe/send, msg_sec_check) answer 40003 for an openid that is not one
// of the app's users. The caller holds s.mu.
func (a *AppHandle) knowLocked(user string) string {
	openid := openID(a.id, user)
	a.users[openid] = true
	return openid
}

// userOf answers what an API acting for app a says about openid: 0 when it
// is a's user, 43104 when it belongs to another app the fake serves and
// tellOtherApp is set (msg_sec_check tells that case apart), 40003 otherwise.
// The caller holds s.mu.
func (a *AppHandle) userOf(openid string, tellOtherApp bool) int {
	if openid == "" {
		return errInvalidOpenID
	}
	if a.users[openid] {
		return 0
	}
	if tellOtherApp {
		for _, b := range a.s.apps {
			if b.users[openid] {
				return errOpenIDOfOtherApp
			}
		}
	}
	return errInvalidOpenID
}
