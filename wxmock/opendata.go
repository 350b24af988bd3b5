package wxmock

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// defaultAvatar is the grey avatar WeChat has given every user of
// getUserProfile since 2022, together with the nickname "微信用户".
const defaultAvatar = "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132"

// ErrNoSession is wrapped by EncryptedPhone and EncryptedProfile when the user
// has no session_key to encrypt with.
var ErrNoSession = errors.New("user has never logged in; redeem a Code first")

// EncryptedPhone returns the legacy getPhoneNumber open data for the default
// app's user's mainland number phone, as the mini program's button handed it out before
// the code-based API: encryptedData and iv in base64, AES-128-CBC with PKCS#7
// padding, keyed with user's latest session_key. The plaintext is
// {"phoneNumber","purePhoneNumber","countryCode":"86","watermark":{"timestamp","appid"}}.
// It fails if user has never logged in.
func (s *Server) EncryptedPhone(user, phone string) (encryptedData, iv string, err error) {
	return s.apps[0].EncryptedPhone(user, phone)
}

// EncryptedPhone is Server.EncryptedPhone for this app: keyed with user's
// latest session_key in this app, watermarked with its AppID.
func (a *AppHandle) EncryptedPhone(user, phone string) (encryptedData, iv string, err error) {
	if phone == "" {
		return "", "", errors.New("wxmock: encrypted phone: empty phone number")
	}
	key, now, err := a.latestKey(user)
	if err != nil {
		return "", "", fmt.Errorf("wxmock: encrypted phone for %q: %w", user, err)
	}
	plain, err := json.Marshal(struct {
		PhoneNumber     string    `json:"phoneNumber"`
		PurePhoneNumber string    `json:"purePhoneNumber"`
		CountryCode     string    `json:"countryCode"`
		Watermark       watermark `json:"watermark"`
	}{phone, phone, "86", watermark{Timestamp: now, AppID: a.id}})
	if err != nil {
		return "", "", fmt.Errorf("wxmock: encrypted phone: encoding plaintext: %w", err)
	}
	return encryptOpenData(key, plain)
}

// EncryptedProfile returns the legacy getUserProfile / getUserInfo open data
// for user of the default app: rawData (the plaintext profile JSON, with the nickname
// "微信用户" and grey avatar WeChat gives everyone now), signature =
// hex(sha1(rawData + session_key)), and encryptedData/iv of
// {"openId","nickName","gender","city","province","country","avatarUrl","unionId","watermark"}
// under user's latest session_key. The encrypted profile always carries a
// unionId, as the legacy API did even for apps whose jscode2session did not;
// Config.UnionID governs jscode2session only. It fails if user has never
// logged in.
func (s *Server) EncryptedProfile(user string) (rawData, signature, encryptedData, iv string, err error) {
	return s.apps[0].EncryptedProfile(user)
}

// EncryptedProfile is Server.EncryptedProfile for this app: this app's
// openId and AppID, the unionId every app shares.
func (a *AppHandle) EncryptedProfile(user string) (rawData, signature, encryptedData, iv string, err error) {
	key, now, err := a.latestKey(user)
	if err != nil {
		return "", "", "", "", fmt.Errorf("wxmock: encrypted profile for %q: %w", user, err)
	}
	type profile struct {
		NickName  string `json:"nickName"`
		Gender    int    `json:"gender"`
		Language  string `json:"language"`
		City      string `json:"city"`
		Province  string `json:"province"`
		Country   string `json:"country"`
		AvatarURL string `json:"avatarUrl"`
	}
	p := profile{NickName: "微信用户", AvatarURL: defaultAvatar}
	raw, err := json.Marshal(p)
	if err != nil {
		return "", "", "", "", fmt.Errorf("wxmock: encrypted profile: encoding rawData: %w", err)
	}
	sum := sha1.Sum([]byte(string(raw) + key))

	plain, err := json.Marshal(struct {
		OpenID    string    `json:"openId"`
		NickName  string    `json:"nickName"`
		Gender    int       `json:"gender"`
		City      string    `json:"city"`
		Province  string    `json:"province"`
		Country   string    `json:"country"`
		AvatarURL string    `json:"avatarUrl"`
		UnionID   string    `json:"unionId"`
		Watermark watermark `json:"watermark"`
	}{openID(a.id, user), p.NickName, p.Gender, p.City, p.Province, p.Country, p.AvatarURL, unionID(user),
		watermark{Timestamp: now, AppID: a.id}})
	if err != nil {
		return "", "", "", "", fmt.Errorf("wxmock: encrypted profile: encoding plaintext: %w", err)
	}
	encryptedData, iv, err = encryptOpenData(key, plain)
	if err != nil {
		return "", "", "", "", err
	}
	return string(raw), hex.EncodeToString(sum[:]), encryptedData, iv, nil
}

// latestKey returns user's latest session_key in app a and the time for a
// watermark.
func (a *AppHandle) latestKey(user string) (string, int64, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	keys := a.sessions[openID(a.id, user)]
	if len(keys) == 0 {
		return "", 0, ErrNoSession
	}
	return keys[len(keys)-1], a.s.now().Unix(), nil
}

// encryptOpenData encrypts plain the way WeChat's open data is: AES-128-CBC,
// key = base64-decoded session_key, a random iv, PKCS#7 padding, both results
// in standard base64.
func encryptOpenData(sessionKey string, plain []byte) (encryptedData, iv string, err error) {
	key, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil {
		return "", "", fmt.Errorf("wxmock: decoding session_key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", "", fmt.Errorf("wxmock: session_key is not an AES key: %w", err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	ivb := make([]byte, aes.BlockSize)
	_, _ = rand.Read(ivb) // crypto/rand.Read never fails (Go ≥ 1.24)
	cipher.NewCBCEncrypter(block, ivb).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), base64.StdEncoding.EncodeToString(ivb), nil
}
