package caddymodule

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/wxauth/caddy-wxauth/auth"
)

// testProfiles are a handler of each kind: no headers config, each
// built-in profile, and a custom block.
var testProfiles = []struct {
	name    string
	profile *HeaderProfile
	custom  []string // the custom block's names
}{
	{"no headers config", nil, nil},
	{"the default profile", &HeaderProfile{Profile: "default"}, nil},
	{"the cloudrun profile", &HeaderProfile{Profile: "cloudrun"}, nil},
	{"a custom block", &HeaderProfile{OpenID: "X-User", UnionID: "X-User-Union", Phone: "Mobile", CountryCode: "X-Dial_Code", AppID: "X-Tenant"},
		[]string{"X-User", "X-User-Union", "Mobile", "X-Dial_Code", "X-Tenant"}},
}

func mustRules(t testing.TB, p *HeaderProfile) *headerRules {
	t.Helper()
	hr, err := p.provision()
	if err != nil {
		t.Fatal(err)
	}
	return hr
}

// spellings are the ways a client may write name that an upstream reads as
// name: any case, '_' for '-'.
func spellings(name string) []string {
	under := strings.ReplaceAll(name, "-", "_")
	return []string{
		name, strings.ToLower(name), strings.ToUpper(name), http.CanonicalHeaderKey(name),
		under, strings.ToLower(under), strings.ToUpper(under),
		strings.ReplaceAll(strings.ToLower(name), "-", "_"),
	}
}

func TestStripRemovesIdentityHeadersInEverySpelling(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		want http.Header
	}{
		{"canonical names", http.Header{"X-Openid": {"a"}, "X-Unionid": {"b"}, "X-Phone": {"c"}, "X-Phone-Country-Code": {"d"}, "X-Appid": {"e"}, "Accept": {"*/*"}},
			http.Header{"Accept": {"*/*"}}},
		{"raw spellings kept by the server", http.Header{"x_openid": {"a"}, "X_OPENID": {"a"}, "X-OpenID": {"a"}, "x_Phone_country_CODE": {"1"}, "x_wx_openid": {"a"}},
			http.Header{}},
		{"look-alikes survive", http.Header{"X-Openid2": {"a"}, "X-Phone-Country": {"b"}, "Xopenid": {"c"}, "X-WX-OPENIDS": {"d"}, "X-WX": {"e"}},
			http.Header{"X-Openid2": {"a"}, "X-Phone-Country": {"b"}, "Xopenid": {"c"}, "X-WX-OPENIDS": {"d"}, "X-WX": {"e"}}},
		{"identity names leave Connection", http.Header{"Connection": {"keep-alive, X-OpenID", "x_phone"}},
			http.Header{"Connection": {"keep-alive"}}},
		{"a Connection of identity names only goes", http.Header{"Connection": {"X-OpenID, X_UNIONID"}},
			http.Header{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defaultHeaderRules.stripHeaders(tc.in)
			if !reflect.DeepEqual(tc.in, tc.want) {
				t.Fatalf("got %v, want %v", tc.in, tc.want)
			}
		})
	}
}

func TestEveryProfileStripsEveryProfilesNamesAndItsOwnCustomNamesInEverySpelling(t *testing.T) {
	for _, p := range testProfiles {
		t.Run(p.name, func(t *testing.T) {
			hr := mustRules(t, p.profile)
			for _, name := range slices.Concat(alwaysStripped, p.custom) {
				for _, s := range spellings(name) {
					hdr := http.Header{s: {"forged"}, "Accept": {"*/*"}}
					hr.stripHeaders(hdr)
					if want := (http.Header{"Accept": {"*/*"}}); !reflect.DeepEqual(hdr, want) {
						t.Errorf("a client's %q: left %v", s, hdr)
					}
				}
			}
		})
	}
}

func TestTheStripListIsTheUnionTheContractNames(t *testing.T) {
	want := []string{
		"X-OpenID", "X-UnionID", "X-Phone", "X-Phone-Country-Code", "X-AppID",
		"X-WX-OPENID", "X-WX-UNIONID", "X-WX-APPID", "X-WX-SOURCE", "X-Original-Forwarded-For",
		"X-WX-FROM-OPENID", "X-WX-FROM-APPID", "X-WX-FROM-UNIONID", "X-WX-ENV",
		"X-WX-CLOUDBASE-ACCESS-TOKEN", "X-WX-FROM-CLOUDBASE-ACCESS-TOKEN",
	}
	if !reflect.DeepEqual(alwaysStripped, want) {
		t.Fatalf("alwaysStripped = %v, want %v", alwaysStripped, want)
	}
}

func TestAnotherHandlersCustomNamesAreOrdinaryHeaders(t *testing.T) {
	hr := mustRules(t, nil)
	hdr := http.Header{"X-User": {"a"}, "X-Tenant": {"b"}}
	hr.stripHeaders(hdr)
	if len(hdr) != 2 {
		t.Fatalf("a handler without a custom block stripped %v", hdr)
	}
}

func TestEveryProfileRemovesEveryStrippedNameFromConnection(t *testing.T) {
	for _, p := range testProfiles {
		t.Run(p.name, func(t *testing.T) {
			hr := mustRules(t, p.profile)
			var listed []string
			for _, name := range slices.Concat(alwaysStripped, p.custom) {
				listed = append(listed, spellings(name)...)
			}
			hdr := http.Header{"Connection": {"keep-alive, " + strings.Join(listed, ", "), strings.Join(listed[:3], ","), "Upgrade , X-Other"}}
			hr.stripHeaders(hdr)
			if want := (http.Header{"Connection": {"keep-alive", "Upgrade, X-Other"}}); !reflect.DeepEqual(hdr, want) {
				t.Fatalf("got %v, want %v", hdr, want)
			}
		})
	}
}

// trailerBody fills trailer at the end of the body, as net/http's server
// does just before its body reader returns io.EOF.
type trailerBody struct {
	io.Reader
	trailer, arrives http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		for k, v := range b.arrives {
			b.trailer[k] = v
		}
	}
	return n, err
}

func (b *trailerBody) Close() error { return nil }

func TestEveryProfileStripsIdentityTrailersDeclaredAndArrived(t *testing.T) {
	for _, p := range testProfiles {
		t.Run(p.name, func(t *testing.T) {
			hr := mustRules(t, p.profile)
			for _, name := range slices.Concat(alwaysStripped, p.custom) {
				forged := "x_" + strings.ToLower(name[2:]) // e.g. x_wx-openid
				if !strings.HasPrefix(strings.ToLower(name), "x-") {
					forged = strings.ToUpper(name)
				}
				r := httptest.NewRequest(http.MethodPost, "/api", nil)
				r.Trailer = http.Header{forged: nil, "X-Checksum": nil}
				r.Body = &trailerBody{Reader: strings.NewReader("body"), trailer: r.Trailer,
					arrives: http.Header{forged: {"forged"}, "X-Checksum": {"abc"}}}
				hr.stripTrailers(r)
				if _, ok := r.Trailer[forged]; ok {
					t.Fatalf("declared trailer %q survived", forged)
				}
				if b, err := io.ReadAll(r.Body); err != nil || string(b) != "body" {
					t.Fatalf("body: %q, %v", b, err)
				}
				if want := (http.Header{"X-Checksum": {"abc"}}); !reflect.DeepEqual(r.Trailer, want) {
					t.Fatalf("trailers after the body: %v, want %v", r.Trailer, want)
				}
			}
		})
	}
}

func TestARequestWithoutTrailersKeepsItsBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader("body"))
	body := r.Body
	defaultHeaderRules.stripTrailers(r)
	if r.Body != body {
		t.Fatal("a request that declared no trailer had its body wrapped")
	}
}

// identityRequest is a request as Caddy hands it on: a replacer, and the
// client IP Caddy determined in its variables.
func identityRequest() (*http.Request, *caddy.Replacer) {
	r := httptest.NewRequest(http.MethodGet, "/api/orders", nil)
	r.RemoteAddr = "10.0.0.1:43210"
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.7"})
	return r.WithContext(ctx), repl
}

var (
	bare = auth.Identity{AppID: "wx0123456789abcdef", OpenID: "o-alice"}
	full = auth.Identity{AppID: "wx0123456789abcdef", OpenID: "o-alice", UnionID: "u-alice",
		Phone: &auth.Phone{PhoneNumber: "+1 555 0100", PurePhoneNumber: "5550100", CountryCode: "1"}}
)

func TestEachProfileSetsExactlyItsHeaders(t *testing.T) {
	custom := &HeaderProfile{OpenID: "X-User", Phone: "x_mobile"}
	tests := []struct {
		name    string
		profile *HeaderProfile
		id      auth.Identity
		want    http.Header
	}{
		{"default, openid and appid only", nil, bare,
			http.Header{"X-Openid": {"o-alice"}, "X-Appid": {"wx0123456789abcdef"}}},
		{"default, everything known", &HeaderProfile{Profile: "default"}, full,
			http.Header{"X-Openid": {"o-alice"}, "X-Unionid": {"u-alice"}, "X-Phone": {"+1 555 0100"},
				"X-Phone-Country-Code": {"1"}, "X-Appid": {"wx0123456789abcdef"}}},
		{"cloudrun, openid and appid only", &HeaderProfile{Profile: "cloudrun"}, bare,
			http.Header{"X-Wx-Openid": {"o-alice"}, "X-Wx-Appid": {"wx0123456789abcdef"},
				"X-Wx-Source": {"wx_client"}, "X-Original-Forwarded-For": {"203.0.113.7"}}},
		{"cloudrun, everything known, and no phone", &HeaderProfile{Profile: "cloudrun"}, full,
			http.Header{"X-Wx-Openid": {"o-alice"}, "X-Wx-Unionid": {"u-alice"}, "X-Wx-Appid": {"wx0123456789abcdef"},
				"X-Wx-Source": {"wx_client"}, "X-Original-Forwarded-For": {"203.0.113.7"}}},
		{"a custom block sends only what it names", custom, full,
			http.Header{"X-User": {"o-alice"}, "X_mobile": {"+1 555 0100"}}},
		{"a custom block naming the phone sends nothing before one is bound", custom, bare,
			http.Header{"X-User": {"o-alice"}}},
		{"a custom block of every field", testProfiles[3].profile, full,
			http.Header{"X-User": {"o-alice"}, "X-User-Union": {"u-alice"}, "Mobile": {"+1 555 0100"},
				"X-Dial_code": {"1"}, "X-Tenant": {"wx0123456789abcdef"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := identityRequest()
			mustRules(t, tc.profile).setIdentity(r, tc.id)
			if !reflect.DeepEqual(r.Header, tc.want) {
				t.Fatalf("got %v, want %v", r.Header, tc.want)
			}
		})
	}
}

func TestCloudRunForwardsThePeerAddressOutsideACaddyServer(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	mustRules(t, &HeaderProfile{Profile: "cloudrun"}).setIdentity(r, bare)
	if got := r.Header.Values("X-Original-Forwarded-For"); !reflect.DeepEqual(got, []string{"2001:db8::1"}) {
		t.Fatalf("X-Original-Forwarded-For = %q", got)
	}
}

func TestAHandlerAppendingToOneIdentityHeaderLeavesTheOthersAlone(t *testing.T) {
	for _, p := range testProfiles {
		t.Run(p.name, func(t *testing.T) {
			r, _ := identityRequest()
			mustRules(t, p.profile).setIdentity(r, full)
			before := r.Header.Clone()
			for k := range before {
				r.Header[k] = append(r.Header[k], "appended")
				if got := r.Header[k]; len(got) != 2 || got[0] != before[k][0] {
					t.Fatalf("%s after append: %q", k, got)
				}
				r.Header[k] = before[k]
			}
			for k, v := range before {
				if !reflect.DeepEqual(r.Header[k], v) {
					t.Fatalf("appending to another header changed %s to %q", k, r.Header[k])
				}
			}
		})
	}
}

func TestPlaceholdersAreSetWhateverTheProfile(t *testing.T) {
	for _, p := range append(testProfiles, struct {
		name    string
		profile *HeaderProfile
		custom  []string
	}{"a custom block of the openid only", &HeaderProfile{OpenID: "X-User"}, nil}) {
		t.Run(p.name, func(t *testing.T) {
			r, repl := identityRequest()
			mustRules(t, p.profile).setIdentity(r, full)
			for k, want := range map[string]string{
				"http.auth.user.id": "o-alice", "wx.openid": "o-alice", "wx.unionid": "u-alice",
				"wx.phone": "+1 555 0100", "wx.appid": "wx0123456789abcdef",
			} {
				if got, _ := repl.GetString(k); got != want {
					t.Errorf("{%s} = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestWithoutAPhoneThePhonePlaceholderIsUnset(t *testing.T) {
	r, repl := identityRequest()
	defaultHeaderRules.setIdentity(r, bare)
	if _, ok := repl.Get("wx.phone"); ok {
		t.Fatal("{wx.phone} set for a user without a phone")
	}
	if got, _ := repl.GetString("wx.unionid"); got != "" {
		t.Fatalf("{wx.unionid} = %q for a user without one", got)
	}
}

func TestTheHeaderConfigReadsAsItsJSONDocumentationSays(t *testing.T) {
	tests := []struct {
		profile *HeaderProfile
		json    string
	}{
		{&HeaderProfile{Profile: "cloudrun"}, `{"profile":"cloudrun"}`},
		{&HeaderProfile{OpenID: "X-User", UnionID: "X-Union", Phone: "X-Mobile", CountryCode: "X-Dial", AppID: "X-App"},
			`{"openid":"X-User","unionid":"X-Union","phone":"X-Mobile","country_code":"X-Dial","appid":"X-App"}`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.profile)
		if err != nil || string(b) != tc.json {
			t.Fatalf("marshal %+v: %s, %v; want %s", tc.profile, b, err, tc.json)
		}
		var back HeaderProfile
		if err := caddy.StrictUnmarshalJSON(b, &back); err != nil || back != *tc.profile {
			t.Fatalf("unmarshal %s: %+v, %v", b, back, err)
		}
	}
}

func TestConfigMistakesAreRefusedNamingTheMistake(t *testing.T) {
	tests := []struct {
		name    string
		profile HeaderProfile
		want    string
	}{
		{"an unknown profile", HeaderProfile{Profile: "cloud_run"}, `unknown profile "cloud_run" (default or cloudrun)`},
		{"a profile and custom names", HeaderProfile{Profile: "cloudrun", AppID: "X-App"}, `profile "cloudrun" and a custom name (appid) exclude each other`},
		{"a custom block naming no field", HeaderProfile{}, "name a profile (default or cloudrun) or at least one field"},
		{"an invalid name", HeaderProfile{OpenID: "X User"}, `openid: "X User" is not a valid header name`},
		{"a name with a colon", HeaderProfile{OpenID: ":authority"}, `openid: ":authority" is not a valid header name`},
		{"a name with a placeholder", HeaderProfile{OpenID: "{env.NAME}"}, `openid: "{env.NAME}" is not a valid header name`},
		{"a name of non-ASCII", HeaderProfile{UnionID: "X-Ünion"}, `unionid: "X-Ünion" is not a valid header name`},
		{"Connection", HeaderProfile{AppID: "connection"}, `appid: "connection" cannot carry identity: it is a hop-by-hop header`},
		{"Keep-Alive spelled with _", HeaderProfile{Phone: "Keep_Alive"}, `phone: "Keep_Alive" cannot carry identity: it is a hop-by-hop header`},
		{"Transfer-Encoding", HeaderProfile{OpenID: "Transfer-Encoding"}, "hop-by-hop"},
		{"Host", HeaderProfile{OpenID: "Host"}, `openid: "Host" cannot carry identity: it carries the request itself`},
		{"Authorization", HeaderProfile{UnionID: "AUTHORIZATION"}, `unionid: "AUTHORIZATION" cannot carry identity: it carries the request itself`},
		{"Cookie", HeaderProfile{OpenID: "Cookie"}, "carries the request itself"},
		{"X-Forwarded-For", HeaderProfile{CountryCode: "X-Forwarded-For"}, `country_code: "X-Forwarded-For" cannot carry identity: reverse_proxy sets it`},
		{"one name for two fields", HeaderProfile{OpenID: "X-User", AppID: "x_user"}, `openid and appid both name "x_user"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.profile.provision()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "wxauth: headers: ") {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if err2 := tc.profile.check(); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("check says %v, provision %v", err2, err)
			}
		})
	}
}

func TestGoodConfigsProvision(t *testing.T) {
	for _, p := range []*HeaderProfile{
		nil, {Profile: "default"}, {Profile: "cloudrun"}, {AppID: "X-App"}, {OpenID: "X-WX-OPENID"},
		{OpenID: "X_User"}, {OpenID: "X-Forwarded-User"}, testProfiles[3].profile,
	} {
		if _, err := p.provision(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

// parse runs parseHeaders on the headers subdirective inside a wxauth
// block, as the block parser will, and returns what follows it.
func parse(t *testing.T, input string) (*HeaderProfile, []string, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser("wxauth {\n" + input + "\napp_id wx1\n}")
	d.Next()
	var p *HeaderProfile
	var after []string
	for d.NextBlock(0) {
		if d.Val() != "headers" {
			after = append(after, d.Val())
			after = append(after, d.RemainingArgs()...)
			continue
		}
		var err error
		if p, err = parseHeaders(d); err != nil {
			return nil, nil, err
		}
	}
	return p, after, nil
}

func TestTheHeadersSubdirectiveParses(t *testing.T) {
	tests := []struct {
		input string
		want  HeaderProfile
	}{
		{"headers default", HeaderProfile{Profile: "default"}},
		{"headers cloudrun", HeaderProfile{Profile: "cloudrun"}},
		{"headers {\n openid X-User\n}", HeaderProfile{OpenID: "X-User"}},
		{"headers {\n openid X-User\n unionid X-Union\n phone X-Mobile\n country_code X-Dial\n appid X-App\n}",
			HeaderProfile{OpenID: "X-User", UnionID: "X-Union", Phone: "X-Mobile", CountryCode: "X-Dial", AppID: "X-App"}},
		{"headers {\n appid \"X-App\"\n}", HeaderProfile{AppID: "X-App"}},
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			p, after, err := parse(t, tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if p == nil || *p != tc.want {
				t.Fatalf("got %+v, want %+v", p, tc.want)
			}
			if !reflect.DeepEqual(after, []string{"app_id", "wx1"}) {
				t.Fatalf("the block parser went on with %q, want app_id wx1", after)
			}
		})
	}
}

func TestHeadersSubdirectiveMistakesAreRefusedNamingTheMistake(t *testing.T) {
	tests := []struct{ input, want string }{
		{"headers", "name a profile (default or cloudrun) or at least one field"},
		{"headers {\n}", "name a profile (default or cloudrun) or at least one field"},
		{"headers cloud-run", `unknown profile "cloud-run"`},
		{"headers default cloudrun", "wrong argument count"},
		{"headers cloudrun {\n openid X-User\n}", "headers cloudrun takes no block"},
		{"headers default {\n}", "headers default takes no block"},
		{"headers {\n open_id X-User\n}", `unknown field "open_id"`},
		{"headers {\n openid X-User\n openid X-Other\n}", "openid given twice"},
		{"headers {\n openid\n}", "wrong argument count"},
		{"headers {\n openid X-User X-Other\n}", "wrong argument count"},
		{"headers {\n openid \"\"\n}", "openid: empty header name"},
		{"headers {\n openid \"X User\"\n}", `openid: "X User" is not a valid header name`},
		{"headers {\n appid Host\n}", `appid: "Host" cannot carry identity`},
		{"headers {\n openid Connection\n}", "hop-by-hop"},
		{"headers {\n openid X-User\n appid X_USER\n}", `openid and appid both name "X_USER"`},
	}
	for _, tc := range tests {
		t.Run(tc.input, func(t *testing.T) {
			_, _, err := parse(t, tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("%v does not say where", err)
			}
		})
	}
}

func TestAClientsForgedIdentityInEitherProfilesNamesNeverReachesTheUpstream(t *testing.T) {
	fx := newEndpointFixture(t)
	r := httptest.NewRequest(http.MethodGet, "/api/orders", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	r.Header.Set("Authorization", "Bearer "+fx.token)
	for _, name := range alwaysStripped {
		r.Header[strings.ReplaceAll(strings.ToLower(name), "-", "_")] = []string{"forged"}
	}
	r.Header.Set("Connection", "X-OpenID, x_wx_openid")
	var seen http.Header
	next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
		seen = r.Header.Clone()
		return nil
	})
	if err := fx.h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil || seen == nil {
		t.Fatalf("not served: %v", err)
	}
	for name, v := range seen {
		if slices.Contains(v, "forged") {
			t.Errorf("the upstream saw the client's %s", name)
		}
	}
	if seen.Get("X-OpenID") == "" || seen.Get("X-OpenID") == "forged" || seen.Get("Connection") != "" {
		t.Fatalf("the upstream saw %v", seen)
	}
}

func BenchmarkStripIdentityHeaders(b *testing.B) {
	b.ReportAllocs()
	h := http.Header{
		"Accept": {"*/*"}, "User-Agent": {"Mozilla/5.0"}, "Authorization": {"Bearer x"},
		"Content-Type": {"application/json"}, "Referer": {"https://servicewechat.com/wx/0/page-frame.html"},
	}
	for b.Loop() {
		defaultHeaderRules.stripHeaders(h)
	}
}

func BenchmarkSetIdentity(b *testing.B) {
	for _, p := range testProfiles[1:] {
		b.Run(p.name, func(b *testing.B) {
			hr := mustRules(b, p.profile)
			r, _ := identityRequest()
			id := full
			id.Phone = nil
			b.ReportAllocs()
			for b.Loop() {
				hr.setIdentity(r, id)
			}
		})
	}
}
