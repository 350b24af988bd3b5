# Build and run Caddy with wxauth the way Caddy users do: with xcaddy.
#
#   make -f xcaddy.mk xcaddy-build   # bin/caddy-xcaddy, Caddy $(CADDY_VERSION) + this checkout
#   make -f xcaddy.mk xcaddy-run     # the root Caddyfile behind cmd/wxmock, like `make demo`
#   make -f xcaddy.mk xcaddy-test    # build, then check the module is in and the Caddyfile loads
#
# (or `include xcaddy.mk` from the Makefile). Outside this repository the
# same build is `xcaddy build --with github.com/wxauth/caddy-wxauth/caddymodule`.
#
# xcaddy writes a throwaway main module that imports Caddy's standard modules
# and the plugin package, `replace`s this module with this checkout, and runs
# `go build` in it. The plugin package is caddymodule/ (the module root holds
# no Go package), so it is plugged in with --with and the module is pointed
# here with --replace.
#
# The go commands xcaddy runs ask GOPROXY about the plugin's module path
# before settling on the replacement. proxy.golang.org answers 404 for an
# unpublished module and Go then uses the replacement; a proxy that answers
# 403 instead makes the build fail ("reading .../@v/list: 403 Forbidden").
# There, build from a warm module cache (after `go build ./cmd/caddy`):
#   GOPROXY=off make -f xcaddy.mk xcaddy-test

.PHONY: xcaddy-build xcaddy-run xcaddy-test

WXAUTH_MODULE  := github.com/wxauth/caddy-wxauth
WXAUTH_PLUGIN  := $(WXAUTH_MODULE)/caddymodule
# Pinned so every machine builds with the same xcaddy; override to try another.
XCADDY_VERSION ?= v0.4.5
# The Caddy version go.mod builds against, so bin/caddy and bin/caddy-xcaddy
# are the same Caddy. `make -f xcaddy.mk CADDY_VERSION=master` tries another.
CADDY_VERSION  ?= $(shell go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
# An xcaddy on PATH wins; otherwise the pinned one is installed into bin/tools.
XCADDY         ?= $(or $(shell command -v xcaddy 2>/dev/null),$(CURDIR)/bin/tools/xcaddy)
XCADDY_OUT     ?= bin/caddy-xcaddy

WX_APPID       ?= wx0123456789abcdef
WX_SECRET      ?= wxmock-demo-secret
export WX_APPID WX_SECRET

$(CURDIR)/bin/tools/xcaddy:
	GOBIN=$(CURDIR)/bin/tools go install github.com/caddyserver/xcaddy/cmd/xcaddy@$(XCADDY_VERSION)

xcaddy-build: $(XCADDY)
	@mkdir -p $(dir $(XCADDY_OUT))
	$(XCADDY) build $(CADDY_VERSION) \
		--with $(WXAUTH_PLUGIN) --replace $(WXAUTH_MODULE)=. \
		--output $(XCADDY_OUT)

# `xcaddy run` plugs in the package in the current directory (so: from
# caddymodule/), builds, and runs Caddy with the remaining arguments. The root
# Caddyfile expects the fake WeChat on 127.0.0.1:9090, started here.
xcaddy-run: $(XCADDY)
	@mkdir -p bin
	go build -o bin/wxmock ./cmd/wxmock
	bin/wxmock -listen 127.0.0.1:9090 -appid "$$WX_APPID" -secret "$$WX_SECRET" & \
	mock=$$!; trap 'kill $$mock 2>/dev/null' EXIT INT TERM; \
	cd caddymodule && CADDY_VERSION=$(CADDY_VERSION) $(XCADDY) run --config ../Caddyfile --adapter caddyfile

xcaddy-test: xcaddy-build
	./$(XCADDY_OUT) list-modules | grep -x 'http.handlers.wxauth'
	./$(XCADDY_OUT) validate --config Caddyfile --adapter caddyfile
