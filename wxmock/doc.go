// Package wxmock is a fake of the WeChat server APIs a mini program backend
// calls, for tests and offline development. WeChat has no sandbox for these
// APIs; wxmock stands in for https://api.weixin.qq.com and lets a test play the
// user's phone, too: it mints the codes wx.login and the getPhoneNumber button
// would hand the mini program, and the legacy encrypted open data. It also
// plays WeChat's web OAuth for official accounts (公众号网页授权) and websites
// (QR code login): the authorize pages of https://open.weixin.qq.com, which
// consent at once for a user the test picks, and the code exchange and
// profile APIs. One fake serves any number of apps (AppIDs), as WeChat does.
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
// For the server APIs a backend calls with an access_token:
//
//	wx.Sent()                                   // subscribe messages sent, with msgid and raw body
//	wx.Uploads()[0].SHA256                      // did the multipart upload arrive intact?
//	wx.WXACode("id=42", "pages/item/item", 0)   // the exact JPEG getwxacodeunlimit answers
//	wxmock.DecodeWXACode(img)                   // what a code the backend got was made for
//	wx.Fail(wxmock.PathSubscribeSend, 40001, 1) // refuse the token once: does the client refresh and retry?
//	wx.Stats().Calls[wxmock.PathMsgSecCheck]    // reached WeChat once?
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
// For web OAuth, point the client's authorize base (open.weixin.qq.com) and
// API base (api.weixin.qq.com) both at srv.URL:
//
//	wx.NextOAuthUser("bob")                  // the next authorize page logs in bob
//	// ... the browser follows /connect/oauth2/authorize?… → 302 callback?code=…&state=…
//	wx.NextOAuthSnapshot("carol")            // then a snapshot-page visitor: is_snapshotuser 1
//	code := wx.OAuthCode("bob", wxmock.ScopeUserInfo) // a callback's code, without the page
//
// Config.Now takes a clock, so tests can expire codes (5 minutes; 10 for
// website logins) and access_tokens (Config.TokenTTL, default 7200 s)
// without sleeping.
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
// A web login, with the plugin's oauth_base set to the fake:
//
//	curl -X POST 'localhost:9090/mock/oauth/next?user=bob'
//	curl -i 'localhost:9090/connect/oauth2/authorize?appid=wx0123456789abcdef&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=snsapi_userinfo&state=xyz'
//	→ 302 Location: https://app.example/cb?code=…&state=xyz
//
// # WeChat APIs
//
// All answer HTTP 200 with a JSON body, labelled as WeChat labels it:
// text/plain from the /sns/ APIs — jscode2session, sns/oauth2/access_token,
// sns/userinfo — (successes and errors alike), application/json from the
// others — except getwxacodeunlimit, whose success is the image
// itself (image/jpeg) and whose errors are JSON as usual. Failures are {"errcode":N,"errmsg":…} with errmsgs shaped
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
// An access_token names its app, so every API below acts for the app it was
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
// The APIs below address users by openid; an openid is a user of an app once
// a helper has named that user for the app (see Users and identities).
//
// POST /wxa/msg_sec_check?access_token= {"content","version":2,"scene","openid"
// [,"title","nickname","signature"]} (msgSecCheck 2.0): {"errcode":0,
// "errmsg":"ok","detail":[{"strategy":"content_model","errcode":0,"suggest",
// "label","prob"},{"strategy":"keyword","errcode":0}],"trace_id","result":
// {"suggest","label"}}. The verdict is deterministic: "risky" (label 20006)
// when any of the texts contains one of Config.RiskyWords (default
// DefaultRiskyWords: "risky", "违规" and the two test texts of WeChat's
// docs), else "review" (21000) for one of Config.ReviewWords (default
// "review"), else "pass" (100); case-insensitive. Errors: 43302 not POST (the
// docs' code for this API), 44002 empty body or no content, 47001 body not
// JSON or carrying access_token, 40129 scene not 1–4, 40003 openid missing or
// unknown, 43104 openid of another app the fake serves. A body whose version
// is not 2 gets version 1's answer: {"errcode":0,"errmsg":"ok"}, or 87014
// risky content.
//
// POST /wxa/getwxacodeunlimit?access_token= {"scene","page","width",
// "env_version","check_path",…} (getUnlimitedQRCode): the image, Content-Type
// image/jpeg: a valid JPEG width pixels square (default 430, clamped to
// 280–1280) whose bytes are a function of the app, scene, page and width —
// WXACode gives the same bytes, DecodeWXACode reads back what a code was made
// for. Errors (application/json): 43002 GET, 47001 body not JSON, 40169
// scene missing, empty or over 32 characters, 40129 a scene character
// outside [0-9A-Za-z!#$&'()*+,/:;=?@-._~], 41030 a page starting with "/" or
// carrying "?", 40097 an env_version other than release, trial or develop.
// Colours and check_path do not change the image.
//
// POST /cgi-bin/media/upload?access_token=&type= multipart/form-data with a
// "media" file part (uploadTempMedia; the mini program's customer-service
// upload is the same path): {"type","media_id","created_at"}, as captured
// answers have it. Errors: 43002 GET, 40004 type missing or not image, voice,
// video or thumb, 41005 no multipart body, no "media" part with a filename,
// or an empty file, 40005 a filename without an extension the type allows
// (image .png .jpeg .jpg .gif; voice .amr .mp3; video .mp4; thumb .jpg
// .jpeg), 40006 over the type's limit (image and video 10 MB, voice 2 MB,
// thumb 64 KB). Uploads lists accepted files with their size and SHA-256.
//
// GET /cgi-bin/getcallbackip?access_token= (getCallbackIp): {"ip_list":[…]},
// CallbackIPs.
//
// POST /cgi-bin/message/subscribe/send?access_token= {"touser","template_id",
// "page","data":{"thing1":{"value"},…},"miniprogram_state","lang"}
// (sendMessage): {"errcode":0,"errmsg":"ok","msgid":N}, msgid a random
// 19-digit number, too large for a float64 to hold exactly, as real ones are.
// Errors: 43002 GET, 47001 body not JSON, 40003 touser empty or not a user of
// the token's app (another app's openid included), 40037 template_id empty,
// 47003 no data, or a keyword without a value ("argument invalid!
// data.thing1.value is emtpy", WeChat's spelling). Sent lists the accepted
// messages with the body as received. The user's consent (43101) and
// templates are not modelled: any non-empty template_id is accepted.
//
// Every access_token-taking API answers 41001 when the token is missing,
// 40014 when it is not token-shaped, 40001 when it is unknown, replaced or
// invalidated (InvalidateTokens), 42001 when expired.
//
// Any other path answers HTTP 404 with {"errcode":404,"errmsg":…}.
//
// # Web OAuth
//
// Official accounts (developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html)
// and websites (…/doc/oplatform/Website_App/WeChat_Login/Wechat_Login.html)
// log users in with an authorize page on open.weixin.qq.com and two APIs on
// api.weixin.qq.com; the fake serves all four under its own base. Any app it
// serves may use either page.
//
// GET /connect/oauth2/authorize?appid=&redirect_uri=&response_type=code
// &scope=snsapi_base|snsapi_userinfo&state= (the official account's page;
// WeChat's URL ends in #wechat_redirect, which never reaches a server): a
// real user would consent inside WeChat; the fake answers 302 at once to
// redirect_uri?code=CODE&state=STATE — code and state appended to the query
// redirect_uri has, before its fragment; state empty when none was given. The
// code is single-use and lives 5 minutes. Refusals are WeChat's error page
// (HTTP 200, text/html, "Oops! Something went wrong:(" over the message),
// never a redirect; it shows the docs' error codes: 10012, 10011, 10010 for
// a missing appid, redirect_uri or scope; 10003 redirect_uri域名与后台配置不一致
// for an AppID the fake does not serve (WeChat has no code of its own for
// that) and for a redirect_uri that is not an absolute http(s) URL or not on
// Config.OAuthDomains; 10005 for a scope other than the two (snsapi_login
// included). The page says 该链接无法访问, without a code, when response_type is
// not code, when appid, redirect_uri, response_type, scope and state are out
// of that order (WeChat matches the link against a strict pattern; other
// parameters may stand anywhere) or when state breaks the documented rule
// (a-zA-Z0-9, at most 128 bytes). The fake's own header X-Wxmock-Errcode
// repeats the code shown, and a line "wxmock: …" says why.
//
// GET /connect/qrconnect?appid=&redirect_uri=&response_type=code
// &scope=snsapi_login&state= (the website's QR login page; the fake plays the
// user who scans and confirms): the same 302; the code lives 10 minutes
// ("code的超时时间为10分钟"), state comes back whatever its characters. Its error
// page shows no codes: "Scope 参数错误或没有 Scope 权限" for any scope but
// snsapi_login, "redirect_uri 参数错误" for a redirect_uri missing, not an
// absolute http(s) URL or off Config.OAuthDomains, 该链接无法访问 for a missing
// or unknown AppID or a response_type other than code.
//
// Who logs in: the user named by mock_user=U on the authorize URL (the
// fake's own parameter; mock_snapshot=1 makes it a snapshot login); else
// the first user queued for that app with NextOAuthUser or
// NextOAuthSnapshot (or POST /mock/oauth/next), each consumed by one
// successful page; else DefaultOAuthUser, "alice". A browser test cannot add
// mock_user to a URL the code under test builds, so it queues. Refused
// requests and injected faults consume nobody.
//
// A snapshot login is WeChat's 快照页 visitor: a shared page asked for
// snsapi_userinfo where WeChat does not allow it, and "开发者在快照页内所获取的头
// 像、昵称、openId、unionId 均为虚拟账号数据". Its exchange answers
// "is_snapshotuser":1 and a virtual openid (SnapshotOpenID(user), not
// OpenID(user)), its unionid and profile are virtual too ("微信用户", grey
// avatar). qrconnect has no snapshot mode and logs the user in normally.
//
// GET /sns/oauth2/access_token?appid=&secret=&code=&grant_type=authorization_code:
// {"access_token","expires_in","refresh_token","openid","scope"} plus
// "is_snapshotuser":1 for a snapshot login and "unionid" with Config.UnionID
// when the scope is not snsapi_base (the docs: "只有当scope为
// "snsapi_userinfo"时返回"). expires_in is Config.TokenTTL (7200 s). The
// openid is the user's in that app — OpenID(user) of that app, as for
// jscode2session. Errors: the credential errors of jscode2session (41002,
// 40013, 41004, 40125, 40002), 41008 without a code, 40029 for a code that
// is unknown, older than its lifetime, a wx.login code, or another app's (a
// code belongs to the app whose page issued it, and another app's attempt
// leaves it unused), 40163 code been used.
//
// The access_token it answers is a web access_token, not the server token
// of cgi-bin/token: it names one user of one app, works for sns/userinfo of
// that openid only (every other API answers it 40001), outlives
// InvalidateTokens and expires after TokenTTL. The refresh_token is opaque.
//
// GET /sns/userinfo?access_token=&openid=&lang=zh_CN: {"openid","nickname",
// "sex","province","city","country","headimgurl","privilege":[]} plus
// "unionid" with Config.UnionID, for a token granted snsapi_userinfo or
// snsapi_login. nickname is the user's name as the test wrote it, headimgurl
// a stable thirdwx.qlogo.cn URL of theirs, sex 0 and the regions empty (WeChat
// stopped returning them in 2021). Errors: 41001 token missing, 40001 a token
// that is no web token (unknown, or a server access_token), 42001 expired
// (40001 once the fake has forgotten it, an hour or more later), 40003 an
// openid other than the token's, 48001 api unauthorized for a snsapi_base
// token.
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
//	POST /mock/oauth/next?user=U[&snapshot=1][&appid=A]  {"openid"}  NextOAuthUser, NextOAuthSnapshot
//	GET  /mock/oauth/code?user=U&scope=S[&appid=A]  {"code","openid"}  OAuthCode
//	POST /mock/fail {"path","errcode","times"}  204                      Fail
//	POST /mock/invalidate_tokens[?appid=A]      204                      InvalidateTokens (every app's without appid)
//	GET  /mock/encrypted_phone?user=U&phone=P[&appid=A]  {"encryptedData","iv"}  EncryptedPhone
//	GET  /mock/encrypted_profile?user=U[&appid=A]  {"rawData","signature","encryptedData","iv"}  EncryptedProfile
//	GET  /mock/sent[?appid=A]                   [{"appid","msgid","touser",…}]  Sent (every app's without appid)
//	GET  /mock/uploads[?appid=A]                [{"appid","type","media_id","size","sha256",…}]  Uploads (every app's without appid)
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
// leaves the user's sessions in the others alone. A user needs no setup: any
// helper naming them for an app — Code, FailingCode, PhoneCode, OpenID,
// NextOAuthUser, OAuthCode, and the /mock/ endpoints that mint codes — and
// a web login make them a user of that app, as opening the app does on
// WeChat; a snapshot login does not (it is a virtual account). subscribe/send and msg_sec_check accept
// only openids of the token's app's users.
//
// # Several apps
//
// Config.AppID/AppSecret and Config.Apps list the apps the fake serves; the
// first (AppID when set, else Apps[0]) is the default app, which the Server's
// helpers and the /mock/ endpoints without appid act for. Server.App(appid)
// returns an *AppHandle with the same helpers — Code, FailingCode, OpenID,
// UnionID, PhoneCode, PhoneCodeWithCountry, SessionKey, SessionKeys,
// EncryptedPhone, EncryptedProfile, WXACode, InvalidateTokens, Sent, Uploads,
// NextOAuthUser, NextOAuthSnapshot, OAuthCode, SnapshotOpenID — for that app
// (each app has its own queue of next OAuth users); Server.AppIDs lists the
// apps. What is not per app: faults (Fail applies to an API path whatever the
// app), Calls, Reset, Latency, TokenTTL, UnionID, CountryCodeNumber,
// RiskyWords, ReviewWords and OAuthDomains.
// Server.InvalidateTokens kills every app's tokens, AppHandle.InvalidateTokens
// one app's; Server.Sent and Server.Uploads list every app's records, each
// carrying its AppID, and the AppHandle's one app's. Stats' totals sum all apps, and
// Stats.Apps[appid] has each app's token counts.
//
// # Faults
//
// Fail(path, errcode, times) makes the next times calls to one API answer
// errcode (-1 system error, 45011 minute quota, 40226 code blocked, …), or
// every call while times < 0, until Fail(path, 0, 0). An injected fault
// answers before the request is looked at: it consumes no code and issues no
// token, so a client may retry with the same code; on the other APIs it
// sends nothing and records nothing. Fail(path, 40001, 1) makes WeChat refuse
// a good token once, to test a client's refresh-and-retry. On an authorize
// page (PathOAuthAuthorize, PathQRConnect) the fault is the error page showing
// errcode — 10009 操作太频繁了, 10004 此公众号被封禁, … — and it consumes no
// queued user. Faults, counters, the queued OAuth users and the Sent and
// Uploads records are cleared by Reset; codes, users, sessions and tokens are
// not. Config.Latency delays every WeChat API call and authorize page (not
// /mock/), for benchmarks and timeout tests.
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
// Daily quotas, IP whitelists, the 20-a-day limit on forced refreshes, the
// encrypted-request (API signature) mode, subscription consent (43101),
// templates, published pages and msg_sec_check's two-hour visit window (61010)
// are not modelled — inject them with Fail where a test needs them. Uploaded
// files are hashed, not kept.
//
// Web OAuth: the user always consents (a refusal — no redirect on the
// official account's page, redirect_uri?state=STATE without code on
// qrconnect — is not played); the pages do not require WeChat's browser
// (opened elsewhere, the real oauth2/authorize shows its error page); apps have
// no kind, so 10016 (an Open Platform AppID on the official account's page)
// and a website AppID's lack of snsapi_base are not answered;
// sns/oauth2/refresh_token and sns/auth are not served; a snsapi_base token
// never reads a profile, even for a user who granted snsapi_userinfo
// recently, which WeChat sometimes allows.
package wxmock
