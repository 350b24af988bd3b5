// Command caddy is Caddy with its standard modules plus wxauth: what
// `xcaddy build --with github.com/wxauth/caddy-wxauth` produces.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/wxauth/caddy-wxauth/caddymodule"
)

func main() {
	caddycmd.Main()
}
