package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CodeSnapshotUser refuses WeChat's virtual visitor of a snapshot page.
const CodeSnapshotUser = "snapshot_user"

// WebStateTTL is how long a web login may take from the redirect to
// WeChat until the callback: a website's QR code lives as long.
const WebStateTTL = 10 * time.Minute

// maxReturnTo bounds return_to, which travels in a cookie (4 KB at most).
const maxReturnTo = 2048

// A web login (an official account's H5 page, a website's QR login) goes
// to WeChat's authorize page and comes back to the callback with a code and
// the state it was sent with. The state is bound to the browser that
// started the login by a cookie, so that nobody can log a victim in as
// themselves by sending them a callback link of their own (login CSRF):
//
//	<cookie> = v1.<appid>.<state>.<expiry>.<return_to>.<mac>
//
// signed with a key derived from the AppSecret (every instance of the
// account derives the same one) and holding where to go afterwards, so the
// login writes nothing to the store until the callback has proven itself.
// state is 32 hex digits, which WeChat's pages accept (a-zA-Z0-9, ≤ 128).

// WebLoginStart is what StartWebLogin made: the state to send WeChat and
// the cookie value that binds it to this browser.
type WebLoginStart struct {
	State  string
	Cookie string
}

// WebLogin is a finished web login: the token and where to send the user.
type WebLogin struct {
	*Login
	ReturnTo string
}

// StartWebLogin begins a web login that will end at returnTo, a path on
// this site (see CheckReturnTo).
func (s *Service) StartWebLogin(returnTo string) (WebLoginStart, error) {
	returnTo, err := CheckReturnTo(returnTo)
	if err != nil {
		return WebLoginStart{}, err
	}
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	state := hex.EncodeToString(b[:])
	expiry := strconv.FormatInt(s.cfg.Now().Add(WebStateTTL).Unix(), 10)
	signed := strings.Join([]string{"v1", s.cfg.AppID, state, expiry, base64.RawURLEncoding.EncodeToString([]byte(returnTo))}, ".")
	return WebLoginStart{State: state, Cookie: signed + "." + s.stateSignature(signed)}, nil
}

func (s *Service) stateSignature(signed string) string {
	m := hmac.New(sha256.New, s.stateMAC)
	m.Write([]byte(signed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// WebStateAppID is the AppID a state cookie names, unverified: it only
// routes the callback to the account whose FinishWebLogin checks it.
func WebStateAppID(cookie string) string {
	parts := strings.Split(cookie, ".")
	if len(parts) != 6 || parts[0] != "v1" {
		return ""
	}
	return parts[1]
}

// FinishWebLogin ends the web login whose state cookie is cookie: state
// (what WeChat sent back) must be the cookie's, unexpired and not used
// before; then code is exchanged once and the user gets a token. Nothing
// reaches WeChat or the store before the state has been checked.
func (s *Service) FinishWebLogin(ctx context.Context, cookie, state, code string) (*WebLogin, error) {
	returnTo, expiry, err := s.checkState(cookie, state)
	if err != nil {
		return nil, err
	}
	if code == "" {
		return nil, newError(CodeInvalidRequest, "WeChat sent no code: the user did not authorize the login", nil)
	}
	if err := checkCode(code); err != nil {
		return nil, err
	}
	// Claimed before WeChat sees the code, so that a reloaded callback or a
	// double request completes the login once.
	fresh, err := s.cfg.Store.SetNX(ctx, s.stateClaimKey(state), []byte{1}, expiry.Sub(s.cfg.Now())+time.Minute)
	switch {
	case err != nil:
		return nil, storeError("claim login state", err)
	case !fresh:
		return nil, newError(CodeInvalidRequest, "this login was already completed: start again", errors.New("state replayed"))
	}
	user, err := s.cfg.WeChat.ExchangeWebCode(ctx, code)
	if err != nil {
		// A refused code leaves nothing behind (as for Login).
		_ = s.cfg.Store.Delete(context.WithoutCancel(ctx), s.stateClaimKey(state))
		return nil, wechatError(err)
	}
	if user.SnapshotUser {
		return nil, newError(CodeSnapshotUser, "this is a preview of the page (a snapshot): open it in WeChat and allow the login", nil)
	}
	login, err := s.issue(ctx, user.OpenID, user.UnionID)
	if err != nil {
		return nil, err
	}
	return &WebLogin{Login: login, ReturnTo: returnTo}, nil
}

// CheckWebState is FinishWebLogin's first step alone, for a caller that
// must know the login is genuine before spending anything on it (a rate
// limit's counter).
func (s *Service) CheckWebState(cookie, state string) error {
	_, _, err := s.checkState(cookie, state)
	return err
}

// checkState verifies cookie and that state is its state, and returns
// where the login goes afterwards and when the state expires.
func (s *Service) checkState(cookie, state string) (string, time.Time, error) {
	returnTo, expiry, err := s.parseState(cookie, state)
	if err != nil {
		return "", time.Time{}, newError(CodeInvalidRequest, "this login link is not the one this browser started, or it has expired: start again", err)
	}
	return returnTo, expiry, nil
}

func (s *Service) parseState(cookie, state string) (string, time.Time, error) {
	if cookie == "" || state == "" {
		return "", time.Time{}, errors.New("state or its cookie missing")
	}
	i := strings.LastIndexByte(cookie, '.')
	if i < 0 || !hmac.Equal([]byte(cookie[i+1:]), []byte(s.stateSignature(cookie[:i]))) {
		return "", time.Time{}, errors.New("state cookie not signed by this account")
	}
	parts := strings.Split(cookie[:i], ".")
	if len(parts) != 5 || parts[0] != "v1" || parts[1] != s.cfg.AppID {
		return "", time.Time{}, errors.New("state cookie malformed")
	}
	if subtle.ConstantTimeCompare([]byte(parts[2]), []byte(state)) != 1 {
		return "", time.Time{}, errors.New("state differs from its cookie's")
	}
	unix, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return "", time.Time{}, errors.New("state cookie malformed")
	}
	expiry := time.Unix(unix, 0)
	if !s.cfg.Now().Before(expiry) {
		return "", time.Time{}, errors.New("state expired")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[4])
	if err != nil {
		return "", time.Time{}, errors.New("state cookie malformed")
	}
	returnTo, err := CheckReturnTo(string(raw))
	if err != nil {
		return "", time.Time{}, err
	}
	return returnTo, expiry, nil
}

// CheckReturnTo returns where a login may send the user afterwards: a path
// on this site (with its query), "/" when empty. Anything a browser could
// read as another site is refused — //host, /\host, a scheme, a host —, and
// so are control characters, which browsers strip ("/\t/host" is //host).
func CheckReturnTo(returnTo string) (string, error) {
	refuse := func(why string) (string, error) {
		return "", newError(CodeInvalidRequest, "return_to must be a path on this site: "+why, nil)
	}
	switch {
	case returnTo == "":
		return "/", nil
	case returnTo[0] != '/':
		return refuse("it must start with /")
	case len(returnTo) > 1 && (returnTo[1] == '/' || returnTo[1] == '\\'):
		return refuse("it must not start with // or /\\")
	case strings.ContainsRune(returnTo, '\\'):
		return refuse("it must not hold a backslash")
	}
	for i := 0; i < len(returnTo); i++ {
		if returnTo[i] < 0x20 || returnTo[i] == 0x7f {
			return refuse("it must not hold control characters")
		}
	}
	u, err := url.Parse(returnTo)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return refuse("it must not name a scheme or a host")
	}
	// The parsed form, re-encoded: what goes into the Location header is
	// plain ASCII whatever the client sent. Re-encoding can make a path
	// begin with // ("/%2F " is "//%20"), so the result is checked again,
	// and so is its length, which encoding may triple.
	out := u.EscapedPath()
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + escapeQuery(u.RawQuery)
	}
	switch {
	case strings.HasPrefix(out, "//"):
		return refuse("it must not start with // once decoded")
	case len(out) > maxReturnTo:
		return refuse("it is longer than 2048 bytes")
	}
	return out, nil
}

// escapeQuery percent-encodes what a query may not hold as is (spaces,
// quotes, non-ASCII), leaving its parameters as they are and in their order.
func escapeQuery(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>\^`+"`{|}", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
