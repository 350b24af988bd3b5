// Package wxauth lets `xcaddy build --with github.com/wxauth/caddy-wxauth`
// work: importing it registers the wxauth Caddy module, which lives in
// package caddymodule.
package wxauth

import _ "github.com/wxauth/caddy-wxauth/caddymodule"
