# Build and run Caddy with wxauth the way Caddy users do: with xcaddy.
#
#   make xcaddy-build   # bin/caddy-xcaddy, Caddy $(CADDY_VERSION) + this checkout
#   make xcaddy-run     # the root Caddyfile behind cmd/wxmock, like `make demo`
#   make xcaddy-test    # build, then check the module is in and the Caddyfile loads
#
# (the Makefile includes it). Outside this repository the same build is
# `xcaddy build --with github.com/wxauth/caddy-wxauth`.
#
# xcaddy writes a throwaway main module that imports Caddy's standard modules
# and the plugin (the root package, which registers caddymodule), `replace`s
# the plugin's module with this checkout (--with MODULE=.), and runs
# `go build` in it.
#
# The go commands xcaddy runs ask GOPROXY about the plugin's module path
# before settling on the replacement. proxy.golang.org answers 404 for an
# unpublished module and Go then uses the replacement; a proxy that answers
# 403 instead would fail the build. So the proxy list ends in "|off": any
# error from the proxies falls through to "off", which leaves the replacement.

.PHONY: xcaddy-build xcaddy-run xcaddy-test

WXAUTH_MODULE  := github.com/wxauth/caddy-wxauth
# Pinned so every machine builds with the same xcaddy; override to try another.
XCADDY_VERSION ?= v0.4.5
# The Caddy version go.mod builds against, so bin/caddy and bin/caddy-xcaddy
# are the same Caddy. `make xcaddy-build CADDY_VERSION=master` tries another.
CADDY_VERSION  ?= $(shell go list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
# An xcaddy on PATH wins; otherwise the pinned one is installed into bin/tools.
XCADDY_TOOL    := $(CURDIR)/bin/tools/xcaddy
XCADDY         ?= $(or $(shell command -v xcaddy 2>/dev/null),$(XCADDY_TOOL))
XCADDY_OUT     ?= bin/caddy-xcaddy

WX_APPID       ?= wx0123456789abcdef
WX_SECRET      ?= wxmock-demo-secret
export WX_APPID WX_SECRET

$(XCADDY_TOOL):
	GOBIN=$(dir $(XCADDY_TOOL)) go install github.com/caddyserver/xcaddy/cmd/xcaddy@$(XCADDY_VERSION)

xcaddy-build: $(filter $(XCADDY_TOOL),$(XCADDY))
	@mkdir -p $(dir $(XCADDY_OUT))
	GOPROXY="$$(go env GOPROXY | sed 's/,direct$$//')|off" $(XCADDY) build $(CADDY_VERSION) \
		--with $(WXAUTH_MODULE)=. \
		--output $(XCADDY_OUT)

# `xcaddy run` plugs in the package in the current directory (the module
# root, which registers wxauth), builds, and runs Caddy with the remaining
# arguments. The root Caddyfile expects the fake WeChat on 127.0.0.1:9090,
# started here.
xcaddy-run: $(filter $(XCADDY_TOOL),$(XCADDY))
	@mkdir -p bin
	go build -o bin/wxmock ./cmd/wxmock
	bin/wxmock -listen 127.0.0.1:9090 -appid "$$WX_APPID" -secret "$$WX_SECRET" & \
	mock=$$!; trap 'kill $$mock 2>/dev/null' EXIT INT TERM; \
	CADDY_VERSION=$(CADDY_VERSION) $(XCADDY) run --config Caddyfile --adapter caddyfile

xcaddy-test: xcaddy-build
	./$(XCADDY_OUT) list-modules | grep -x 'http.handlers.wxauth'
	./$(XCADDY_OUT) validate --config Caddyfile --adapter caddyfile
