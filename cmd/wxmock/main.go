// Command wxmock serves a fake of the WeChat server APIs a mini program
// backend calls, for offline development and tests. Point the backend's
// WeChat base URL at it instead of https://api.weixin.qq.com, and use the
// /mock/ endpoints to play the user's phone:
//
//	wxmock -listen 127.0.0.1:9090
//	curl 'localhost:9090/mock/code?user=alice'
//
// One wxmock serves several apps, as WeChat does: repeat -app id:secret, and
// add &appid=id to a /mock/ call to act for that app.
//
// It also plays WeChat's web OAuth (official accounts' and websites' login
// pages): point the client's OAuth base at it too, queue who logs in next,
// and the authorize page redirects back at once:
//
//	curl -X POST 'localhost:9090/mock/oauth/next?user=bob'
//
// -oauth-domain, repeated, limits where the pages may redirect.
//
// See package github.com/wxauth/caddy-wxauth/wxmock for the APIs it serves
// and how it behaves.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wxauth/caddy-wxauth/wxmock"
)

// options are the command-line settings.
type options struct {
	listen            string
	appID             string // "" when only -app apps are served
	secret            string
	apps              []wxmock.App // from -app, in order
	unionID           bool
	latency           time.Duration
	tokenTTL          time.Duration
	countryCodeNumber bool
	riskyWords        []string // from -risky-word; nil for wxmock's defaults
	reviewWords       []string // from -review-word; nil for wxmock's defaults
	oauthDomains      []string // from -oauth-domain; nil: any redirect_uri
}

// wordsFlag collects a repeated flag's values.
type wordsFlag []string

func (f *wordsFlag) String() string { return strings.Join(*f, ",") }

func (f *wordsFlag) Set(v string) error {
	if v == "" {
		return errors.New("want a word")
	}
	*f = append(*f, v)
	return nil
}

// appFlag collects repeated -app id:secret flags.
type appFlag []wxmock.App

// String shows the AppIDs only: flag prints it, and secrets stay out of help
// and error messages.
func (f *appFlag) String() string {
	ids := make([]string, len(*f))
	for i, a := range *f {
		ids[i] = a.AppID
	}
	return strings.Join(ids, ",")
}

func (f *appFlag) Set(v string) error {
	// Split at the first colon: AppIDs have none, a secret might.
	id, secret, _ := strings.Cut(v, ":")
	if id == "" || secret == "" {
		return errors.New("want id:secret, like wx0123456789abcdef:s3cret")
	}
	*f = append(*f, wxmock.App{AppID: id, AppSecret: secret})
	return nil
}

// parseFlags reads args (without the program name). The secret defaults to
// $WXMOCK_SECRET, then to the demo secret, so it need not appear in ps.
// With -app and neither -appid nor -secret, only the -app apps are served.
func parseFlags(args []string, getenv func(string) string, output io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("wxmock", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, "Usage: wxmock [flags]\n\nA fake WeChat server for mini program, official account and website backends,\nweb OAuth login pages included. It serves the -appid app (the demo app by\ndefault) and one more app per -app (with -app alone, only those); /mock/ calls\nact for the first unless they add &appid=. Flags:\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9090", "`address` to listen on")
	fs.StringVar(&o.appID, "appid", wxmock.DemoAppID, "the AppID of the default app, the one /mock/ calls without appid act for")
	// No flag default: flag would print it in -h, and it may come from
	// $WXMOCK_SECRET. Filled in after parsing.
	fs.StringVar(&o.secret, "secret", "", "the default app's AppSecret (default from $WXMOCK_SECRET, else the demo secret)")
	var apps appFlag
	fs.Var(&apps, "app", "one more app to serve, as `id:secret`; repeat for several (-app wxA:s1 -app wxB:s2). With -app and neither -appid nor -secret, only the -app apps are served and the first is the default. Unlike $WXMOCK_SECRET, these secrets show in ps")
	fs.BoolVar(&o.unionID, "unionid", false, "include unionid in jscode2session answers")
	fs.DurationVar(&o.latency, "latency", 0, "delay added to every WeChat API call")
	fs.DurationVar(&o.tokenTTL, "token-ttl", 2*time.Hour, "access_token lifetime (expires_in)")
	var risky, review, domains wordsFlag
	fs.Var(&risky, "risky-word", "a `word` that makes msg_sec_check judge a text risky; repeat for several. Replaces the defaults ("+strings.Join(wxmock.DefaultRiskyWords[:2], ", ")+" and WeChat's two test texts)")
	fs.Var(&review, "review-word", "a `word` that makes msg_sec_check answer review; repeat for several. Replaces the default ("+strings.Join(wxmock.DefaultReviewWords, ", ")+")")
	fs.Var(&domains, "oauth-domain", "an authorization callback `domain` (www.example.com, or host:port for that port only) the OAuth authorize pages may redirect to; repeat for several. Default: any")
	fs.BoolVar(&o.countryCodeNumber, "country-code-number", false, "send phone_info.countryCode as a JSON number (86), the form WeChat's docs show; real WeChat answers send a string (\"86\"), which is the default")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o.apps = apps
	if len(risky) > 0 {
		o.riskyWords = risky
	}
	if len(review) > 0 {
		o.reviewWords = review
	}
	if len(domains) > 0 {
		o.oauthDomains = domains
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["secret"] {
		o.secret = cmp.Or(getenv("WXMOCK_SECRET"), wxmock.DemoAppSecret)
	}
	switch {
	case fs.NArg() > 0:
		return options{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.appID == "":
		return options{}, errors.New("-appid must not be empty")
	case o.secret == "":
		return options{}, errors.New("-secret must not be empty")
	case o.latency < 0:
		return options{}, fmt.Errorf("-latency %v: must not be negative", o.latency)
	case o.tokenTTL <= 0:
		return options{}, fmt.Errorf("-token-ttl %v: must be positive", o.tokenTTL)
	}
	if len(o.apps) > 0 && !set["appid"] && !set["secret"] {
		o.appID, o.secret = "", ""
	}
	secrets := make(map[string]string)
	if o.appID != "" {
		secrets[o.appID] = o.secret
	}
	for _, a := range o.apps {
		if prev, dup := secrets[a.AppID]; dup && prev != a.AppSecret {
			return options{}, fmt.Errorf("-app %s: that AppID is already served with another secret", a.AppID)
		}
		secrets[a.AppID] = a.AppSecret
	}
	return o, nil
}

// serve runs the fake on ln until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, ln net.Listener, o options, logger *log.Logger) error {
	fake := wxmock.New(wxmock.Config{
		AppID:             o.appID,
		AppSecret:         o.secret,
		Apps:              o.apps,
		UnionID:           o.unionID,
		TokenTTL:          o.tokenTTL,
		Latency:           o.latency,
		CountryCodeNumber: o.countryCodeNumber,
		RiskyWords:        o.riskyWords,
		ReviewWords:       o.reviewWords,
		OAuthDomains:      o.oauthDomains,
	})
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	ids := fake.AppIDs()
	label := "appid"
	if len(ids) > 1 {
		label = "appids" // the first is the default
	}
	logger.Printf("wxmock: fake WeChat for %s %s listening on http://%s (unionid %t, token ttl %v, latency %v)",
		label, strings.Join(ids, ", "), ln.Addr(), o.unionID, o.tokenTTL, o.latency)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

func main() {
	logger := log.New(os.Stderr, "", log.LstdFlags)
	o, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		logger.Printf("wxmock: %v", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		logger.Fatalf("wxmock: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, ln, o, logger); err != nil {
		logger.Fatalf("wxmock: %v", err)
	}
}
