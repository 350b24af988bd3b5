package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(new(App))
}

// App holds a company's WeChat accounts — mini programs, official accounts,
// websites — and everything built for them once per deployment: each
// account's shared access_token, its signing keys, the store. Handlers use
// its accounts and rebuild none of it. Configure it with the `wxauth` global
// option; a handler's inline app_id/app_secret adds one implicit mini
// program, so a config without the global option needs none.
type App struct {
	// What every account of the block shares: api_base, token_ttl,
	// user_ttl, cache_ttl, store, store_outage, signing_key.
	Settings
	// Base URL of WeChat's authorize pages, for official accounts and
	// websites. Default: https://open.weixin.qq.com.
	OAuthBase string `json:"oauth_base,omitempty"`
	// The accounts. Names and AppIDs are unique.
	Accounts []AccountConfig `json:"accounts,omitempty"`

	ctx    caddy.Context
	logger *zap.Logger

	mu       sync.Mutex
	byName   map[string]*account
	byAppID  map[string]*account
	inline   map[string]*account // a handler's implicit mini program, by its config
	acquired []*account
}

// AccountConfig is one WeChat account of the global block.
type AccountConfig struct {
	// miniprogram, official_account or website.
	Kind string `json:"kind,omitempty"`
	// How handlers name the account (`apps <name...>`).
	Name string `json:"name,omitempty"`
	// The account's AppID.
	AppID string `json:"app_id,omitempty"`
	// The AppSecret; `{env.*}` and `{file.*}` placeholders are resolved when
	// the config loads and never appear in a response or a log.
	AppSecret string `json:"app_secret,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "wxauth", New: func() caddy.Module { return new(App) }}
}

// Provision builds every account of the block.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx, a.logger = ctx, ctx.Logger()
	a.byName, a.byAppID, a.inline = map[string]*account{}, map[string]*account{}, map[string]*account{}
	if err := initMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("wxauth: metrics: %w", err)
	}
	if err := a.Validate(); err != nil {
		return err
	}
	s := a.Settings.withDefaults()
	for _, c := range a.Accounts {
		acc, err := newAccount(ctx, a.logger, s, c.Kind, c.Name, c.AppID, c.AppSecret)
		if err != nil {
			return fmt.Errorf("%w (account %s)", err, c.Name)
		}
		a.acquired = append(a.acquired, acc)
		a.byName[c.Name], a.byAppID[c.AppID] = acc, acc
	}
	return nil
}

// Validate checks the block without side effects.
func (a *App) Validate() error {
	if err := a.Settings.check(); err != nil {
		return err
	}
	names, appIDs := map[string]bool{}, map[string]string{}
	for _, c := range a.Accounts {
		switch {
		case c.Kind != kindMiniProgram && c.Kind != kindOfficialAccount && c.Kind != kindWebsite:
			return fmt.Errorf("wxauth: account %q: unknown kind %q (miniprogram, official_account or website)", c.Name, c.Kind)
		case c.Name == "":
			return fmt.Errorf("wxauth: a %s account needs a name", c.Kind)
		case names[c.Name]:
			return fmt.Errorf("wxauth: account name %q is used twice", c.Name)
		case c.AppID == "":
			return fmt.Errorf("wxauth: account %s: app_id is required", c.Name)
		case c.AppSecret == "":
			return fmt.Errorf("wxauth: account %s: app_secret is required", c.Name)
		case appIDs[c.AppID] != "":
			return fmt.Errorf("wxauth: app_id %s is both account %s and account %s", c.AppID, appIDs[c.AppID], c.Name)
		}
		names[c.Name], appIDs[c.AppID] = true, c.Name
	}
	return nil
}

// Start and Stop: the app serves nothing itself.
func (*App) Start() error { return nil }
func (*App) Stop() error  { return nil }

// Cleanup releases every account this config built.
func (a *App) Cleanup() error {
	var errs []error
	for _, acc := range a.acquired {
		errs = append(errs, acc.release())
	}
	return errors.Join(errs...)
}

// named returns the accounts called names, or every account of the block
// when names is empty.
func (a *App) named(names []string) ([]*account, error) {
	if len(names) == 0 {
		all := make([]*account, 0, len(a.Accounts))
		for _, c := range a.Accounts {
			all = append(all, a.byName[c.Name])
		}
		return all, nil
	}
	var out []*account
	for _, n := range names {
		acc, ok := a.byName[n]
		if !ok {
			return nil, fmt.Errorf("wxauth: apps: no account named %q in the global wxauth block", n)
		}
		out = append(out, acc)
	}
	return out, nil
}

// inlineMiniProgram returns the implicit mini program of a handler's inline
// form: one per distinct config, so that two sites with the same inline
// block share one access_token source and one set of keys.
func (a *App) inlineMiniProgram(s Settings, appID, secret string) (*account, error) {
	key, err := json.Marshal(struct {
		Settings
		AppID, AppSecret string
	}{s, appID, secret})
	if err != nil {
		return nil, fmt.Errorf("wxauth: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if acc, ok := a.inline[string(key)]; ok {
		return acc, nil
	}
	if other, ok := a.byAppID[appID]; ok {
		if other.name != "" {
			return nil, fmt.Errorf("wxauth: app_id %s is already account %s of the global wxauth block: use `apps %s` instead of app_id/app_secret", appID, other.name, other.name)
		}
		return nil, fmt.Errorf("wxauth: app_id %s is configured inline twice with different settings", appID)
	}
	acc, err := newAccount(a.ctx, a.logger, s.withDefaults(), kindMiniProgram, "", appID, secret)
	if err != nil {
		return nil, err
	}
	a.acquired = append(a.acquired, acc)
	a.inline[string(key)], a.byAppID[appID] = acc, acc
	return acc, nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
