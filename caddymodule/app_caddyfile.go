package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("wxauth", parseGlobalOption)
}

// parseGlobalOption sets up the wxauth app from the global option. Syntax:
//
//	wxauth {
//	    store        memory | redis <url>
//	    key_prefix   wxauth:
//	    store_outage fail_closed | fail_open
//	    signing_key  <path>
//	    token_ttl    2h
//	    user_ttl     720h
//	    cache_ttl    2s | off
//	    api_base     <url>
//	    oauth_base   <url>
//	    miniprogram      <name> { app_id <appid>  app_secret <secret> }
//	    official_account <name> { app_id <appid>  app_secret <secret> }
//	    website          <name> { app_id <appid>  app_secret <secret> }
//	}
//
// Unknown and repeated settings are errors; account blocks may repeat.
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	var app App
	d.Next() // the option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case kindMiniProgram, kindOfficialAccount, kindWebsite:
			acc, err := parseAccount(d, name)
			if err != nil {
				return nil, err
			}
			app.Accounts = append(app.Accounts, acc)
			continue
		}
		if seen[name] {
			return nil, d.Errf("wxauth: %s given twice", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "oauth_base":
			err = oneArg(d, &app.OAuthBase)
		default:
			var known bool
			if known, err = parseSetting(d, name, &app.Settings); !known {
				return nil, d.Errf("wxauth: unknown global option %q", name)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if app.Store != nil && app.Store.Type == "" {
		app.Store.Type = "memory"
	}
	if err := app.Validate(); err != nil {
		return nil, d.Err(err.Error())
	}
	return httpcaddyfile.App{Name: "wxauth", Value: caddyconfig.JSON(&app, nil)}, nil
}

// parseAccount reads `<kind> <name> { app_id … app_secret … }`.
func parseAccount(d *caddyfile.Dispenser, kind string) (AccountConfig, error) {
	acc := AccountConfig{Kind: kind}
	if !d.NextArg() {
		return acc, d.Errf("wxauth: %s needs a name", kind)
	}
	acc.Name = d.Val()
	if d.NextArg() {
		return acc, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var dst *string
		switch d.Val() {
		case "app_id":
			dst = &acc.AppID
		case "app_secret":
			dst = &acc.AppSecret
		default:
			return acc, d.Errf("wxauth: %s %s: unknown setting %q (app_id, app_secret)", kind, acc.Name, d.Val())
		}
		if *dst != "" {
			return acc, d.Errf("wxauth: %s %s: %s given twice", kind, acc.Name, d.Val())
		}
		if err := oneArg(d, dst); err != nil {
			return acc, err
		}
	}
	return acc, nil
}

// parseSetting reads the subdirective name into s when it is one of the
// Settings, and reports whether it was.
func parseSetting(d *caddyfile.Dispenser, name string, s *Settings) (bool, error) {
	switch name {
	case "api_base":
		return true, oneArg(d, &s.APIBase)
	case "signing_key":
		return true, oneArg(d, &s.SigningKey)
	case "store_outage":
		return true, oneArg(d, &s.StoreOutage)
	case "token_ttl":
		return true, durationArg(d, name, &s.TokenTTL, false)
	case "user_ttl":
		return true, durationArg(d, name, &s.UserTTL, false)
	case "cache_ttl":
		return true, durationArg(d, name, &s.CacheTTL, true)
	case "store":
		return true, parseStore(d, s)
	case "key_prefix":
		if s.Store == nil {
			s.Store = &StoreConfig{}
		}
		return true, oneArg(d, &s.Store.Prefix)
	}
	return false, nil
}
