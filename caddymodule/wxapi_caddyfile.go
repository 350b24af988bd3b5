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
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		if seen[name] && name != "allow" && name != "allow_from" {
			return d.Errf("wxapi: %s given twice", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "app":
			err = oneArg(d, &h.App)
		case "apps":
			if h.Apps = d.RemainingArgs(); len(h.Apps) == 0 {
				return d.ArgErr()
			}
		case "app_id":
			err = oneArg(d, &h.AppID)
		case "app_secret":
			err = oneArg(d, &h.AppSecret)
		case "allow":
			err = pathsArg(d, &h.Allow)
		case "allow_from":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.AllowFrom = append(h.AllowFrom, args...)
		case "max_body":
			var size string
			if err = oneArg(d, &size); err == nil {
				n, perr := humanize.ParseBytes(size)
				if perr != nil || n == 0 || n > 1<<40 {
					return d.Errf("wxapi: max_body: bad size %q (e.g. 10MiB)", size)
				}
				h.MaxBody = int64(n)
			}
		default:
			var known bool
			if known, err = parseSetting(d, name, &h.Settings); !known {
				return d.Errf("wxapi: unknown subdirective %q", name)
			}
		}
		if err != nil {
			return err
		}
	}
	if h.Store != nil && h.Store.Type == "" {
		h.Store.Type = "memory"
	}
	if err := h.Validate(); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*WxAPI)(nil)
