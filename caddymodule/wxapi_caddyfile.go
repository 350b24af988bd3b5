package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("wxapi", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		var w WxAPI
		err := w.UnmarshalCaddyfile(h.Dispenser)
		return &w, err
	})
	// It answers every request itself, so it goes where a site's own
	// answer would: after wxauth's checks, before reverse_proxy.
	httpcaddyfile.RegisterDirectiveOrder("wxapi", httpcaddyfile.Before, "reverse_proxy")
}

// UnmarshalCaddyfile sets up wxapi from Caddyfile tokens. Syntax:
//
//	wxapi {
//	    app        <name>              # an account of the global wxauth block
//	    # or the inline form: app_id, app_secret, api_base, store, key_prefix, …
//	    apps       <name...>           # more accounts, callable with ?from_appid=<appid>
//	    allow      <paths...>          # default: every path
//	    allow_from <cidrs...>          # default: loopback and private ranges
//	    max_body   <size>              # default 10MiB
//	}
func (h *WxAPI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	err := parseBlock(d, "wxapi", &h.Settings, []string{"allow", "allow_from"}, func(name string) (bool, error) {
		switch name {
		case "app":
			return true, oneArg(d, &h.App)
		case "apps":
			return true, argsArg(d, &h.Apps)
		case "app_id":
			return true, oneArg(d, &h.AppID)
		case "app_secret":
			return true, oneArg(d, &h.AppSecret)
		case "allow":
			return true, pathsArg(d, &h.Allow)
		case "allow_from":
			var cidrs []string
			err := argsArg(d, &cidrs)
			h.AllowFrom = append(h.AllowFrom, cidrs...)
			return true, err
		case "max_body":
			return true, h.parseMaxBody(d)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if err := h.Validate(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

func (h *WxAPI) parseMaxBody(d *caddyfile.Dispenser) error {
	var size string
	if err := oneArg(d, &size); err != nil {
		return err
	}
	n, err := humanize.ParseBytes(size)
	if err != nil || n == 0 || n > 1<<40 {
		return d.Errf("wxapi: max_body: bad size %q (e.g. 10MiB)", size)
	}
	h.MaxBody = int64(n)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*WxAPI)(nil)
