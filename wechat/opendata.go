package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// ErrDecrypt is the one error every open-data failure returns — bad base64,
// wrong length, bad padding, not JSON — so callers cannot become a padding oracle.
var ErrDecrypt = errors.New("wechat: open data could not be decrypted")

// UserInfo is the decrypted getUserInfo/getUserProfile data wxauth uses.
type UserInfo struct {
	OpenID    string    `json:"openId"`
	UnionID   string    `json:"unionId"`
	NickName  string    `json:"nickName"`
	AvatarURL string    `json:"avatarUrl"`
	Watermark Watermark `json:"watermark"`
}

// DecryptOpenData decrypts encryptedData with AES-128-CBC, key and iv being the
// base64 session_key and iv, and checks PKCS#7 padding. It returns the JSON
// object.
//
// The three inputs are standard-alphabet base64, with or without the trailing
// '=' padding (some transports strip it). Nothing else is forgiven: a '+'
// that became ' ' in a form decoder, the URL alphabet or non-canonical
// trailing bits are rejected. Every failure is ErrDecrypt, unwrapped.
func DecryptOpenData(sessionKey, encryptedData, iv string) ([]byte, error) {
	key, ok1 := decodeBase64(sessionKey)
	ivb, ok2 := decodeBase64(iv)
	data, ok3 := decodeBase64(encryptedData)
	if !ok1 || !ok2 || !ok3 || len(key) != 16 || len(ivb) != aes.BlockSize ||
		len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, ErrDecrypt
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrDecrypt
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, ivb).CryptBlocks(plain, data)
	plain, ok := unpad(plain)
	if !ok {
		return nil, ErrDecrypt
	}
	if t := bytes.TrimLeft(plain, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(plain) {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// DecryptPhone decrypts getPhoneNumber's legacy encryptedData and requires
// that it names a phone number and was stamped for appID.
func DecryptPhone(sessionKey, encryptedData, iv, appID string) (*PhoneInfo, error) {
	var p PhoneInfo
	if err := decryptInto(sessionKey, encryptedData, iv, &p); err != nil ||
		p.PhoneNumber == "" || appID == "" || p.Watermark.AppID != appID {
		return nil, ErrDecrypt
	}
	return &p, nil
}

// DecryptUserInfo decrypts getUserInfo/getUserProfile's encryptedData and
// requires that it was stamped for appID. Comparing OpenID with the logged-in
// user is the caller's job.
func DecryptUserInfo(sessionKey, encryptedData, iv, appID string) (*UserInfo, error) {
	var u UserInfo
	if err := decryptInto(sessionKey, encryptedData, iv, &u); err != nil ||
		appID == "" || u.Watermark.AppID != appID {
		return nil, ErrDecrypt
	}
	return &u, nil
}

// VerifyRawDataSignature reports whether signature is the lowercase hex
// SHA-1 of rawData followed by sessionKey, as getUserInfo signs it.
func VerifyRawDataSignature(rawData, signature, sessionKey string) bool {
	sum := sha1.Sum([]byte(rawData + sessionKey))
	want := hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(signature)) == 1
}

func decryptInto(sessionKey, encryptedData, iv string, v any) error {
	plain, err := DecryptOpenData(sessionKey, encryptedData, iv)
	if err != nil {
		return err
	}
	if json.Unmarshal(plain, v) != nil {
		return ErrDecrypt
	}
	return nil
}

func decodeBase64(s string) ([]byte, bool) {
	enc := base64.StdEncoding.Strict()
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = base64.RawStdEncoding.Strict()
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

// unpad strips PKCS#7 padding from b (a non-empty multiple of the block size).
// It inspects the whole last block whatever the pad length, so a good and a
// bad padding take the same path.
func unpad(b []byte) ([]byte, bool) {
	n := len(b)
	pad := int(b[n-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		same := subtle.ConstantTimeByteEq(b[n-i], byte(pad))
		good &= subtle.ConstantTimeSelect(inPad, same, 1)
	}
	if good != 1 {
		return nil, false
	}
	return b[:n-pad], true
}
