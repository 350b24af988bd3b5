package caddymodule

import (
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("wxauth", parseCaddyfile)
	// Right after basic_auth, Caddy's authentication slot: before
	// request_header, respond, reverse_proxy, php_fastcgi and file_server, so
	// nothing in a site answers or forwards before wxauth has checked the token.
	httpcaddyfile.RegisterDirectiveOrder("wxauth", httpcaddyfile.After, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var w Handler
	err := w.UnmarshalCaddyfile(h.Dispenser)
	return &w, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	wxauth {
//	    apps             <name...>             # accounts of the global wxauth block
//	    # or, for one mini program (Part 1's form):
//	    app_id           <appid>
//	    app_secret       <secret>              # {env.WX_SECRET} or {file.path} work
//	    api_base         <url>                 # default https://api.weixin.qq.com
//	    token_ttl        2h
//	    user_ttl         720h
//	    cache_ttl        2s | off
//	    store            memory | redis <url>
//	    key_prefix       wxauth:
//	    store_outage     fail_closed | fail_open
//	    signing_key      <path>
//	    # either way:
//	    login_path       /wx/login
//	    phone_path       /wx/phone
//	    profile_path     /wx/profile
//	    logout_path      /wx/logout
//	    login_rate_limit <n> <window>
//	    headers          default | cloudrun | { openid <name> unionid <name> phone <name> country_code <name> appid <name> }
//	    log_openids
//	    # H5 login, for official accounts and websites:
//	    oauth_path          /wx/oauth
//	    oauth_callback_path /wx/oauth/callback
//	    oauth_scope         snsapi_base | snsapi_userinfo
//	    oauth_redirect_url  <absolute URL of the callback>
//	    cookie_name         wxauth
//	    login_redirect
//	    public           <paths...>
//	    require_phone    <paths...>
//	}
//
// Unknown and repeated subdirectives are errors; public and require_phone
// may repeat and accumulate.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := parseBlock(d, "wxauth", &h.Settings, []string{"public", "require_phone"}, func(name string) (bool, error) {
		switch name {
		case "apps":
			return true, argsArg(d, &h.Apps)
		case "app_id":
			return true, oneArg(d, &h.AppID)
		case "app_secret":
			return true, oneArg(d, &h.AppSecret)
		case "login_path":
			return true, oneArg(d, &h.LoginPath)
		case "phone_path":
			return true, oneArg(d, &h.PhonePath)
		case "profile_path":
			return true, oneArg(d, &h.ProfilePath)
		case "logout_path":
			return true, oneArg(d, &h.LogoutPath)
		case "log_openids":
			return true, flagArg(d, &h.LogOpenIDs)
		case "login_redirect":
			return true, flagArg(d, &h.LoginRedirect)
		case "oauth_path":
			return true, oneArg(d, &h.OAuthPath)
		case "oauth_callback_path":
			return true, oneArg(d, &h.OAuthCallbackPath)
		case "oauth_scope":
			return true, oneArg(d, &h.OAuthScope)
		case "oauth_redirect_url":
			return true, oneArg(d, &h.OAuthRedirectURL)
		case "cookie_name":
			return true, oneArg(d, &h.CookieName)
		case "login_rate_limit":
			return true, h.parseRateLimit(d)
		case "headers":
			var err error
			h.Headers, err = parseHeaders(d)
			return true, err
		case "public":
			return true, pathsArg(d, &h.Public)
		case "require_phone":
			return true, pathsArg(d, &h.RequirePhone)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if err := h.check(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// parseBlock reads the block of the directive at d: each subdirective once
// (those in repeatable as often as given), handled by sub when it knows the
// name, else as one of the Settings into s. Anything else is an error.
func parseBlock(d *caddyfile.Dispenser, directive string, s *Settings, repeatable []string, sub func(name string) (bool, error)) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] && !slices.Contains(repeatable, name) {
			return d.Errf("%s: %s given twice", directive, name)
		}
		seen[name] = true
		known, err := sub(name)
		if !known {
			if known, err = parseSetting(d, name, s); !known {
				return d.Errf("%s: unknown subdirective %q", directive, name)
			}
		}
		if err != nil {
			return err
		}
	}
	if s.Store != nil && s.Store.Type == "" {
		s.Store.Type = "memory"
	}
	return nil
}

// argsArg reads one or more arguments into dst.
func argsArg(d *caddyfile.Dispenser, dst *[]string) error {
	if *dst = d.RemainingArgs(); len(*dst) == 0 {
		return d.ArgErr()
	}
	return nil
}

// flagArg sets a subdirective that takes no argument.
func flagArg(d *caddyfile.Dispenser, dst *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = true
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.ArgErr()
	}
	*dst = args[0]
	return nil
}

// durationArg parses the positive duration of the subdirective name, or with
// offOK the word "off", which stores -1.
func durationArg(d *caddyfile.Dispenser, name string, dst *caddy.Duration, offOK bool) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	if offOK && s == "off" {
		*dst = -1
		return nil
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("wxauth: %s: bad duration %q: %v", name, s, err)
	}
	if dur <= 0 {
		return d.Errf("wxauth: %s must be positive, got %q", name, s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func pathsArg(d *caddyfile.Dispenser, dst *caddyhttp.MatchPath) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = append(*dst, args...)
	return nil
}

func (h *Handler) parseRateLimit(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n <= 0 {
		return d.Errf("wxauth: login_rate_limit: bad count %q", args[0])
	}
	window, err := caddy.ParseDuration(args[1])
	if err != nil || window <= 0 {
		return d.Errf("wxauth: login_rate_limit: bad window %q", args[1])
	}
	h.LoginRateLimit = &RateLimit{Requests: n, Window: caddy.Duration(window)}
	return nil
}

func parseStore(d *caddyfile.Dispenser, s *Settings) error {
	if s.Store == nil {
		s.Store = &StoreConfig{}
	}
	args := d.RemainingArgs()
	switch {
	case len(args) == 1 && args[0] == "memory":
		s.Store.Type = "memory"
	case len(args) == 2 && args[0] == "redis":
		s.Store.Type, s.Store.URL = "redis", args[1]
	case len(args) > 0 && args[0] != "memory" && args[0] != "redis":
		return d.Errf("wxauth: unknown store %q (memory or redis <url>)", args[0])
	default:
		return d.ArgErr()
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
