package wxmock

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// The /mock/ control endpoints expose the Go helpers over HTTP for tests in
// other languages and for curl. They answer JSON; mistakes get a 4xx status
// and {"error":"..."} (not WeChat's errcode shape, so nobody confuses the two).
// Those that act for an app take ?appid=, the default app when absent.
func (s *Server) registerControl() {
	s.mux.Handle("/mock/code", control(http.MethodGet, s.ctlCode))
	s.mux.Handle("/mock/phonecode", control(http.MethodGet, s.ctlPhoneCode))
	s.mux.Handle("/mock/oauth/next", control(http.MethodPost, s.ctlOAuthNext))
	s.mux.Handle("/mock/oauth/code", control(http.MethodGet, s.ctlOAuthCode))
	s.mux.Handle("/mock/fail", control(http.MethodPost, s.ctlFail))
	s.mux.Handle("/mock/invalidate_tokens", control(http.MethodPost, s.ctlInvalidateTokens))
	s.mux.Handle("/mock/encrypted_phone", control(http.MethodGet, s.ctlEncryptedPhone))
	s.mux.Handle("/mock/encrypted_profile", control(http.MethodGet, s.ctlEncryptedProfile))
	s.mux.Handle("/mock/sent", control(http.MethodGet, s.ctlSent))
	s.mux.Handle("/mock/uploads", control(http.MethodGet, s.ctlUploads))
	s.mux.Handle("/mock/stats", control(http.MethodGet, s.ctlStats))
	s.mux.Handle("/mock/reset", control(http.MethodPost, s.ctlReset))
}

// controlError is a /mock/ request the fake cannot serve.
type controlError struct {
	status int
	msg    string
}

func badRequest(msg string) *controlError {
	return &controlError{status: http.StatusBadRequest, msg: msg}
}

// control adapts a control handler: it enforces the method and writes the
// result, or 204 when there is none.
func control(method string, h func(*http.Request) (any, *controlError)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + method})
			return
		}
		v, cerr := h(r)
		switch {
		case cerr != nil:
			writeJSON(w, cerr.status, map[string]string{"error": cerr.msg})
		case v == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusOK, v)
		}
	})
}

type codeResponse struct {
	Code   string `json:"code"`
	OpenID string `json:"openid"` // what redeeming the code will answer
}

// appOf returns the app a /mock/ request names with ?appid=, or the default
// app when it names none.
func (s *Server) appOf(r *http.Request) (*AppHandle, *controlError) {
	appid := r.URL.Query().Get("appid")
	if appid == "" {
		return s.apps[0], nil
	}
	if a := s.byID[appid]; a != nil {
		return a, nil
	}
	return nil, badRequest(fmt.Sprintf("unknown appid %q; this wxmock serves %v", appid, s.AppIDs()))
}

// appAndUser is the app and the user a control request names: how every
// endpoint acting for one user starts.
func (s *Server) appAndUser(r *http.Request) (*AppHandle, string, *controlError) {
	a, cerr := s.appOf(r)
	if cerr != nil {
		return nil, "", cerr
	}
	user := r.URL.Query().Get("user")
	if user == "" {
		return nil, "", badRequest("user is required")
	}
	return a, user, nil
}

// GET /mock/code?user=U[&errcode=N][&appid=A]
func (s *Server) ctlCode(r *http.Request) (any, *controlError) {
	a, user, cerr := s.appAndUser(r)
	if cerr != nil {
		return nil, cerr
	}
	q := r.URL.Query()
	errcode := 0
	if v := q.Get("errcode"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, badRequest("errcode must be an integer")
		}
		errcode = n
	}
	return codeResponse{Code: a.FailingCode(user, errcode), OpenID: a.OpenID(user)}, nil
}

// GET /mock/phonecode?user=U&phone=P[&country_code=86][&appid=A]
func (s *Server) ctlPhoneCode(r *http.Request) (any, *controlError) {
	a, user, cerr := s.appAndUser(r)
	if cerr != nil {
		return nil, cerr
	}
	q := r.URL.Query()
	phone, cc := q.Get("phone"), q.Get("country_code")
	switch {
	case phone == "":
		return nil, badRequest("phone is required")
	case cc == "":
		cc = "86"
	case !isDigits(cc) || len(cc) > 4:
		return nil, badRequest("country_code must be 1 to 4 digits, like 86")
	}
	return codeResponse{Code: a.PhoneCodeWithCountry(user, phone, cc), OpenID: a.OpenID(user)}, nil
}

// POST /mock/oauth/next?user=U[&snapshot=1][&appid=A]: queue U for the
// app's next authorize page; answers the openid the exchange will give.
func (s *Server) ctlOAuthNext(r *http.Request) (any, *controlError) {
	a, user, cerr := s.appAndUser(r)
	if cerr != nil {
		return nil, cerr
	}
	snapshot, ok := parseFlag(r.URL.Query().Get("snapshot"))
	if !ok {
		return nil, badRequest("snapshot must be 1, 0, true or false")
	}
	if snapshot {
		return map[string]string{"openid": a.NextOAuthSnapshot(user)}, nil
	}
	return map[string]string{"openid": a.NextOAuthUser(user)}, nil
}

// GET /mock/oauth/code?user=U&scope=S[&appid=A]
func (s *Server) ctlOAuthCode(r *http.Request) (any, *controlError) {
	a, user, cerr := s.appAndUser(r)
	if cerr != nil {
		return nil, cerr
	}
	scope := r.URL.Query().Get("scope")
	if scope != ScopeBase && scope != ScopeUserInfo && scope != ScopeLogin {
		return nil, badRequest("scope must be " + ScopeBase + ", " + ScopeUserInfo + " or " + ScopeLogin)
	}
	return codeResponse{Code: a.OAuthCode(user, scope), OpenID: a.OpenID(user)}, nil
}

// parseFlag reads a boolean query parameter; absent is false.
func parseFlag(v string) (value, ok bool) {
	switch v {
	case "", "0", "false":
		return false, true
	case "1", "true":
		return true, true
	}
	return false, false
}

func isDigits(v string) bool {
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return v != ""
}

// POST /mock/fail {"path","errcode","times"}
func (s *Server) ctlFail(r *http.Request) (any, *controlError) {
	var req struct {
		Path    string `json:"path"`
		ErrCode int    `json:"errcode"`
		Times   int    `json:"times"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		return nil, badRequest("body must be JSON {\"path\",\"errcode\",\"times\"}: " + err.Error())
	}
	if err := checkAPIPath(req.Path); err != nil {
		return nil, badRequest(err.Error())
	}
	s.Fail(req.Path, req.ErrCode, req.Times)
	return nil, nil
}

// POST /mock/invalidate_tokens[?appid=A]: every app's tokens, or A's only.
func (s *Server) ctlInvalidateTokens(r *http.Request) (any, *controlError) {
	if r.URL.Query().Get("appid") == "" {
		s.InvalidateTokens()
		return nil, nil
	}
	a, cerr := s.appOf(r)
	if cerr != nil {
		return nil, cerr
	}
	a.InvalidateTokens()
	return nil, nil
}

// GET /mock/encrypted_phone?user=U&phone=P[&appid=A]
func (s *Server) ctlEncryptedPhone(r *http.Request) (any, *controlError) {
	a, cerr := s.appOf(r)
	if cerr != nil {
		return nil, cerr
	}
	q := r.URL.Query()
	if q.Get("user") == "" || q.Get("phone") == "" {
		return nil, badRequest("user and phone are required")
	}
	data, iv, err := a.EncryptedPhone(q.Get("user"), q.Get("phone"))
	if err != nil {
		return nil, &controlError{status: http.StatusConflict, msg: err.Error()}
	}
	return map[string]string{"encryptedData": data, "iv": iv}, nil
}

// GET /mock/encrypted_profile?user=U[&appid=A]
func (s *Server) ctlEncryptedProfile(r *http.Request) (any, *controlError) {
	a, user, cerr := s.appAndUser(r)
	if cerr != nil {
		return nil, cerr
	}
	raw, sig, data, iv, err := a.EncryptedProfile(user)
	if err != nil {
		return nil, &controlError{status: http.StatusConflict, msg: err.Error()}
	}
	return map[string]string{"rawData": raw, "signature": sig, "encryptedData": data, "iv": iv}, nil
}

// GET /mock/sent[?appid=A]: every app's subscribe messages, or A's only.
// Always a JSON array, [] when none.
func (s *Server) ctlSent(r *http.Request) (any, *controlError) {
	return recordsFor(s, r, (*Server).Sent, (*AppHandle).Sent)
}

// GET /mock/uploads[?appid=A]: every app's uploads, or A's only. Always a
// JSON array, [] when none.
func (s *Server) ctlUploads(r *http.Request) (any, *controlError) {
	return recordsFor(s, r, (*Server).Uploads, (*AppHandle).Uploads)
}

// recordsFor answers every app's records, or those of the app r's appid
// names; never null.
func recordsFor[T any](s *Server, r *http.Request, all func(*Server) []T, ofApp func(*AppHandle) []T) (any, *controlError) {
	records := all(s)
	if r.URL.Query().Get("appid") != "" {
		a, cerr := s.appOf(r)
		if cerr != nil {
			return nil, cerr
		}
		records = ofApp(a)
	}
	if records == nil {
		records = []T{}
	}
	return records, nil
}

// GET /mock/stats
func (s *Server) ctlStats(*http.Request) (any, *controlError) {
	return s.Stats(), nil
}

// POST /mock/reset
func (s *Server) ctlReset(*http.Request) (any, *controlError) {
	s.Reset()
	return nil, nil
}
