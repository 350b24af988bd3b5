package caddymodule

import (
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
//	    public           <paths...>
//	    require_phone    <paths...>
//	}
//
// Unknown and repeated subdirectives are errors; public and require_phone
// may repeat and accumulate.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] && name != "public" && name != "require_phone" {
			return d.Errf("wxauth: %s given twice", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "apps":
			h.Apps = d.RemainingArgs()
			if len(h.Apps) == 0 {
				return d.ArgErr()
			}
		case "app_id":
			err = oneArg(d, &h.AppID)
		case "app_secret":
			err = oneArg(d, &h.AppSecret)
		case "login_path":
			err = oneArg(d, &h.LoginPath)
		case "phone_path":
			err = oneArg(d, &h.PhonePath)
		case "profile_path":
			err = oneArg(d, &h.ProfilePath)
		case "logout_path":
			err = oneArg(d, &h.LogoutPath)
		case "log_openids":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.LogOpenIDs = true
		case "login_rate_limit":
			err = h.parseRateLimit(d)
		case "headers":
			h.Headers, err = parseHeaders(d)
		case "public":
			err = pathsArg(d, &h.Public)
		case "require_phone":
			err = pathsArg(d, &h.RequirePhone)
		default:
			var known bool
			if known, err = parseSetting(d, name, &h.Settings); !known {
				return d.Errf("wxauth: unknown subdirective %q", name)
			}
		}
		if err != nil {
			return err
		}
	}
	if h.Store != nil && h.Store.Type == "" {
		h.Store.Type = "memory"
	}
	if err := h.check(); err != nil {
		return d.Err(err.Error())
	}
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
