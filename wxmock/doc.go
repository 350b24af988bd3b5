// Package wxmock is a fake of the WeChat server APIs a mini program backend
// calls, for tests and offline development. WeChat has no sandbox for these
// APIs; wxmock stands in for https://api.weixin.qq.com and lets a test play the
// user's phone, too: it mints the codes wx.login and the getPhoneNumber button
// would hand the mini program, and the legacy encrypted open data. One fake
// serves any number of apps (AppIDs), as WeChat does.
//
// It follows WeChat's documented behaviour — paths, parameters, JSON field
// names, error codes, code and token lifetimes — and nothing of any client,
// so a client tested against it is tested against the documentation.
//
// # In Go tests
//
//	wx := wxmock.New(wxmock.Config{AppID: "wx0123456789abcdef", AppSecret: "s3cret"})
//	srv := httptest.NewServer(wx)
//	defer srv.Close()
//	// point the code under test at srv.URL instead of https://api.weixin.qq.com
//
//	code := wx.Code("alice")                 // what wx.login would return
//	// ... POST code to your login endpoint ...
//	wx.OpenID("alice")                       // the openid your backend should see
//	phoneCode := wx.PhoneCode("alice", "13800138000")
//	wx.Fail(wxmock.PathJSCode2Session, -1, 2) // WeChat busy twice, then fine
//	wx.Stats().TokenFetches["stable_token"]   // did the client cache its token?
//
// Several apps of one company share a fake; the Server's helpers act for the
// default app (Config.AppID), App(appid) has the same helpers for any app:
//
//	wx := wxmock.New(wxmock.Config{
//		AppID: "wx0123456789abcdef", AppSecret: "s3cret", // the default app
//		Apps:  []wxmock.App{{AppID: "wxfedcba9876543210", AppSecret: "0ther"}},
//	})
//	shop := wx.App("wxfedcba9876543210")
//	code := shop.Code("alice")               // redeemable with the shop's credentials only
//	shop.OpenID("alice")                     // differs from wx.OpenID("alice")
//	wx.Stats().Apps["wxfedcba9876543210"].TokenFetches["stable_token"]
//
// Config.Now takes a clock, so tests can expire codes (5 minutes) and
// access_tokens (Config.TokenTTL, default 7200 s) without sleeping.
//
// # Stand-alone
//
// cmd/wxmock serves the same fake on 127.0.0.1:9090 (go run ./cmd/wxmock -h
// lists the flags; -app id:secret, repeated, adds apps). The /mock/ control
// endpoints below play the phone:
//
//	curl 'localhost:9090/mock/code?user=alice'
//	→ {"code":"0716AVll20uHk94SLDml27etM946AVlq","openid":"o…"}
//	curl 'localhost:9090/sns/jscode2session?appid=wx0123456789abcdef&secret=wxmock-demo-secret&js_code=0716…&grant_type=authorization_code'
//	→ {"openid":"o…","session_key":"…"}
//
// With several apps (wxmock -app wxA:secretA -app wxB:secretB), name the app:
//
//	curl 'localhost:9090/mock/code?user=alice&appid=wxB'
//
// # WeChat APIs
//
// All answer HTTP 200 with a JSON body, labelled as WeChat labels it:
// text/plain from jscode2session (successes and errors alike), application/json
// from the others. Failures are {"errcode":N,"errmsg":…} with errmsgs shaped
// like the real ones, each with a fresh request id whose first group is the
// answer's Unix time in hex:
//
//	jscode2session:       "invalid code, rid: 6523b9f1-5d3c8a20-1f9e0b47"
//	cgi-bin/ and wxa/:    "system error rid: 6523b9f1-…", "appid missing rid: …"
//	getuserphonenumber:   "invalid code hint: [EfJCIi5Rf-KaNtQA] rid: …"
//
// Branch on errcode only.
//
// GET /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code
// (code2Session): {"openid","session_key"} plus "unionid" when
// Config.UnionID. Each call hands out a fresh random session_key, which
// becomes the user's only valid one in that app. Errors: 41002 appid missing,
// 40013 invalid appid (an AppID the fake does not serve), 41004 appsecret
// missing, 40125 invalid appsecret (not that app's secret — another served
// app's included), 40002 invalid grant_type, 41008 missing code, 40029 invalid
// code (unknown, older than 5 minutes, or minted for another app: a wx.login
// code belongs to one AppID, and another app's attempt leaves it unused),
// 40163 code been used, or the errcode the code was minted with
// (/mock/code?errcode=40226).
//
// POST /cgi-bin/stable_token {"grant_type":"client_credential","appid","secret","force_refresh"}
// (getStableAccessToken): {"access_token","expires_in"}, a token of the app
// whose credentials were sent; each app has its own. Normal calls return
// the current token with the seconds it has left; in its last 5 minutes (or
// last half of TokenTTL, if shorter) they get a new token while the old one
// keeps working until it expires. force_refresh issues a new token and kills
// the old one at once, except that a forced refresh less than 30 s after the
// previous one returns the current token unchanged (both as WeChat
// documents). GET answers 43002 require POST method; a body that is not JSON
// (a form, or none) 41002 appid missing, as WeChat does; credential errors as
// for jscode2session.
//
// GET /cgi-bin/token?grant_type=client_credential&appid=&secret=
// (getAccessToken): every call issues a new token with expires_in =
// TokenTTL; the previous token keeps working for 5 more minutes, then answers
// 40001 (WeChat guarantees old and new overlap for 5 minutes). Tokens of the
// two endpoints, and of different apps, are independent.
//
// An access_token names its app, so the two APIs below act for the app it was
// issued to.
//
// POST /wxa/business/getuserphonenumber?access_token= {"code"[,"openid"]}
// (getPhoneNumber): {"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber",
// "purePhoneNumber","countryCode","watermark":{"timestamp","appid"}}}.
// countryCode is the JSON string "86", as real WeChat answers send it; only
// Config.CountryCodeNumber (cmd/wxmock -country-code-number) makes it the
// number 86 that WeChat's docs show, so clients can be tested against both.
// Errors: 43002 on GET, 47001 body not JSON, 40029 for a body without a code
// (the code is read from the body only: {} with ?code= in the query answers
// 40029, as WeChat does) and for a code that is unknown, used or older than 5
// minutes, and 40029 also when "openid" names another user than the code was
// minted for (WeChat documents the check but no errcode) or when the code was
// minted for another app than the access_token's; those mismatches leave the
// code unused. The watermark's appid is the token's app.
//
// GET /wxa/checksession?access_token=&signature=&openid=&sig_method=hmac_sha256
// (checkSessionKey): {"errcode":0,"errmsg":"ok"} when signature is the
// lowercase hex HMAC-SHA256, keyed with the base64 text of the user's latest
// session_key in the token's app, of the empty string; 87009 invalid
// signature otherwise (including for an older session_key, an openid that
// never logged in, or one of another app);
// 40097 when sig_method is not hmac_sha256; 40003 without openid.
//
// Every access_token-taking API answers 41001 when the token is missing,
// 40014 when it is not token-shaped, 40001 when it is unknown, replaced or
// invalidated (InvalidateTokens), 42001 when expired.
//
// Any other path answers HTTP 404 with {"errcode":404,"errmsg":…}.
//
// # Control endpoints
//
// Under /mock/, JSON in and out; mistakes get HTTP 400 (409 when the user has
// never logged in) with {"error":"…"}, a wrong method 405. Each mirrors a Go
// method. Those marked [&appid=A] act for app A — as the same method of
// App(A) does — and for the default app without it; an AppID the fake does
// not serve is a 400.
//
//	GET  /mock/code?user=U[&errcode=N][&appid=A]  {"code","openid"}      Code, FailingCode
//	GET  /mock/phonecode?user=U&phone=P[&country_code=86][&appid=A]  {"code","openid"}  PhoneCode, PhoneCodeWithCountry
//	POST /mock/fail {"path","errcode","times"}  204                      Fail
//	POST /mock/invalidate_tokens[?appid=A]      204                      InvalidateTokens (every app's without appid)
//	GET  /mock/encrypted_phone?user=U&phone=P[&appid=A]  {"encryptedData","iv"}  EncryptedPhone
//	GET  /mock/encrypted_profile?user=U[&appid=A]  {"rawData","signature","encryptedData","iv"}  EncryptedProfile
//	GET  /mock/stats                            {"token_fetches","tokens_issued","calls","apps"}  Stats
//	POST /mock/reset                            204                      Reset
//
// # Users and identities
//
// A user is any string a test picks ("alice"), and the same string is the same
// person in every app. OpenID(user) is a stable function of AppID and user,
// 28 characters starting with "o" like WeChat's, so each app sees its own
// openid; UnionID(user) is stable and independent of the AppID, as a unionid
// is the same across one Open Platform account's apps (all apps of a fake
// belong to one account). Session_keys are per app: logging in to one app
// leaves the user's sessions in the others alone. A user needs no setup:
// minting a code creates them.
//
// # Several apps
//
// Config.AppID/AppSecret and Config.Apps list the apps the fake serves; the
// first (AppID when set, else Apps[0]) is the default app, which the Server's
// helpers and the /mock/ endpoints without appid act for. Server.App(appid)
// returns an *AppHandle with the same helpers — Code, FailingCode, OpenID,
// UnionID, PhoneCode, PhoneCodeWithCountry, SessionKey, SessionKeys,
// EncryptedPhone, EncryptedProfile, InvalidateTokens — for that app;
// Server.AppIDs lists the apps. What is not per app: faults (Fail applies to an
// API path whatever the app), Calls, Reset, Latency, TokenTTL, UnionID and
// CountryCodeNumber. Server.InvalidateTokens kills every app's tokens,
// AppHandle.InvalidateTokens one app's. Stats' totals sum all apps, and
// Stats.Apps[appid] has each app's token counts.
//
// # Faults
//
// Fail(path, errcode, times) makes the next times calls to one API answer
// errcode (-1 system error, 45011 minute quota, 40226 code blocked, …), or
// every call while times < 0, until Fail(path, 0, 0). An injected fault
// answers before the request is looked at: it consumes no code and issues no
// token, so a client may retry with the same code. Faults and counters are
// cleared by Reset; codes, sessions and tokens are not. Config.Latency delays
// every WeChat API call (not /mock/), for benchmarks and timeout tests.
//
// # Legacy open data
//
// EncryptedPhone and EncryptedProfile return what the old getPhoneNumber
// button and getUserProfile handed the mini program: AES-128-CBC with PKCS#7
// padding, key = base64-decoded latest session_key of the user, a random iv,
// base64 throughout, and a watermark {"timestamp","appid"}. The profile's
// signature is hex(sha1(rawData + session_key)). Both fail, wrapping
// ErrNoSession, for a user who has never redeemed a code.
//
// # Limits
//
// State lives in memory and is never persisted. Expired codes and long-dead
// tokens are forgotten lazily; each user keeps their last eight session_keys.
// Daily quotas, IP whitelists, the 20-a-day limit on forced refreshes and the
// encrypted-request (API signature) mode are not modelled — inject them with
// Fail where a test needs them.
package wxmock
