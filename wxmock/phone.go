package wxmock

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

type phoneCode struct {
	app         *AppHandle // the only app whose access_token may redeem it
	openid      string
	phone       string // without country code: purePhoneNumber
	countryCode string
	minted      time.Time // the watermark's "用户获取手机号操作的时间戳"
	expires     time.Time
	used        bool
}

// PhoneCode mints a getPhoneNumber code for user of the default app with the
// mainland number phone (country code 86), as the mini program gets from a
// <button open-type="getPhoneNumber">. It is single-use and expires after
// five minutes. The user need not have logged in.
func (s *Server) PhoneCode(user, phone string) string { return s.apps[0].PhoneCode(user, phone) }

// PhoneCode mints a getPhoneNumber code for user of this app. Only this
// app's access_tokens can redeem it: with another app's it answers 40029.
func (a *AppHandle) PhoneCode(user, phone string) string {
	return a.PhoneCodeWithCountry(user, phone, "86")
}

// PhoneCodeWithCountry is PhoneCode for a number outside the mainland:
// countryCode is digits such as "852". phoneNumber is then answered as
// "+" + countryCode + phone, purePhoneNumber as phone.
func (s *Server) PhoneCodeWithCountry(user, phone, countryCode string) string {
	return s.apps[0].PhoneCodeWithCountry(user, phone, countryCode)
}

// PhoneCodeWithCountry is Server.PhoneCodeWithCountry for this app.
func (a *AppHandle) PhoneCodeWithCountry(user, phone, countryCode string) string {
	code := randomHex(32)
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneCodes(now)
	s.phoneCodes[code] = &phoneCode{
		app:         a,
		openid:      a.knowLocked(user),
		phone:       phone,
		countryCode: countryCode,
		minted:      now,
		expires:     now.Add(codeTTL),
	}
	return code
}

type watermark struct {
	Timestamp int64  `json:"timestamp"`
	AppID     string `json:"appid"`
}

type phoneInfo struct {
	PhoneNumber     string    `json:"phoneNumber"`
	PurePhoneNumber string    `json:"purePhoneNumber"`
	CountryCode     any       `json:"countryCode"` // string, or int with Config.CountryCodeNumber
	Watermark       watermark `json:"watermark"`
}

type phoneResponse struct {
	apiError
	PhoneInfo phoneInfo `json:"phone_info"`
}

func fullPhoneNumber(phone, countryCode string) string {
	if countryCode == "86" {
		return phone // WeChat: "国外手机号会有区号" — mainland numbers have none
	}
	return "+" + countryCode + phone
}

// getUserPhoneNumber is POST /wxa/business/getuserphonenumber
// (getPhoneNumber). Missing, unknown, expired and used codes all answer
// 40029, as on WeChat; a body that is not JSON answers 47001, as other /wxa/
// APIs do (binarywang/WxJava#444). With "openid" in the body WeChat checks
// that the code belongs to that user; its docs name no errcode for a
// mismatch, so the fake answers 40029 too, and leaves the code unused — a
// client that sends the wrong user must not burn the right user's code. A
// code minted for another app than the access_token's is unknown to this
// app: 40029, and the code stays redeemable by its own app.
func (s *Server) getUserPhoneNumber(r *http.Request) any {
	if r.Method != http.MethodPost {
		return wxError(errRequirePOST)
	}
	a, errcode := s.checkAccessToken(r.URL.Query().Get("access_token"))
	if errcode != 0 {
		return wxError(errcode)
	}
	var req struct {
		Code   string `json:"code"`
		OpenID string `json:"openid"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		return wxError(errDataFormat)
	}

	// The code is read from the body only; a body without one ({}, even with
	// ?code= in the query string) answers 40029 like an unknown code, as
	// captured real answers show — not 41008.
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.phoneCodes[req.Code]
	if req.Code == "" || c == nil || c.app != a || c.used || !s.now().Before(c.expires) || (req.OpenID != "" && req.OpenID != c.openid) {
		return wxError(errInvalidCode)
	}
	c.used = true

	var cc any = c.countryCode
	if n, err := strconv.Atoi(c.countryCode); err == nil && s.cfg.CountryCodeNumber {
		cc = n
	}
	return phoneResponse{
		apiError: apiError{ErrCode: 0, ErrMsg: "ok"},
		PhoneInfo: phoneInfo{
			PhoneNumber:     fullPhoneNumber(c.phone, c.countryCode),
			PurePhoneNumber: c.phone,
			CountryCode:     cc,
			Watermark:       watermark{Timestamp: c.minted.Unix(), AppID: a.id},
		},
	}
}
