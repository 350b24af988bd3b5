package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// WeChat's own sample from 开放数据校验与解密 (the demo in its Node, PHP,
// Python and C++ sample code), with the plaintext it publishes.
const (
	sampleAppID      = "wx4f4bc4dec97d474b"
	sampleSessionKey = "tiihtNczf5v6AKRyjwEUhQ=="
	sampleIV         = "r7BXXKkLb8qrSNn05n0qiA=="
	sampleData       = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
	samplePlain      = `{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}`
)

var testKey = bytes.Repeat([]byte{0x42}, 16)
var testIV = bytes.Repeat([]byte{0x24}, 16)

// seal encrypts raw (already padded, or deliberately not) with the test key.
func seal(raw []byte) string {
	block, _ := aes.NewCipher(testKey)
	out := make([]byte, len(raw))
	cipher.NewCBCEncrypter(block, testIV).CryptBlocks(out, raw)
	return b64(out)
}

func pkcs7(p []byte) []byte {
	n := aes.BlockSize - len(p)%aes.BlockSize
	return append(append([]byte(nil), p...), bytes.Repeat([]byte{byte(n)}, n)...)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestDecryptUserInfoReadsWeChatsOfficialSample(t *testing.T) {
	plain, err := DecryptOpenData(sampleSessionKey, sampleData, sampleIV)
	if err != nil || string(plain) != samplePlain {
		t.Fatalf("got %s, %v; want the published plaintext", plain, err)
	}
	u, err := DecryptUserInfo(sampleSessionKey, sampleData, sampleIV, sampleAppID)
	if err != nil {
		t.Fatal(err)
	}
	want := UserInfo{
		OpenID:    "oGZUI0egBJY1zhBYw2KhdUfwVJJE",
		UnionID:   "ocMvos6NjeKLIBqg5Mr9QjxrP1FA",
		NickName:  "Band",
		AvatarURL: "http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0",
		Watermark: Watermark{AppID: sampleAppID, Timestamp: 1477314187},
	}
	if *u != want {
		t.Errorf("got %+v, want %+v", *u, want)
	}
}

func TestDecryptOpenDataAcceptsBase64WithoutPadding(t *testing.T) {
	trim := func(s string) string { return strings.TrimRight(s, "=") }
	plain, err := DecryptOpenData(trim(sampleSessionKey), trim(sampleData), trim(sampleIV))
	if err != nil || string(plain) != samplePlain {
		t.Errorf("got %s, %v; want the published plaintext", plain, err)
	}
}

func TestDecryptPhoneReadsBothCountryCodeForms(t *testing.T) {
	for _, cc := range []string{`"86"`, `86`} {
		t.Run(cc, func(t *testing.T) {
			data := seal(pkcs7([]byte(`{"phoneNumber":"13580006666","purePhoneNumber":"13580006666","countryCode":` + cc + `,"watermark":{"appid":"wxAPP","timestamp":1477314187}}`)))
			p, err := DecryptPhone(b64(testKey), data, b64(testIV), "wxAPP")
			if err != nil {
				t.Fatal(err)
			}
			want := PhoneInfo{"13580006666", "13580006666", "86", Watermark{"wxAPP", 1477314187}}
			if *p != want {
				t.Errorf("got %+v, want %+v", *p, want)
			}
		})
	}
}

func TestEveryOpenDataFailureIsErrDecrypt(t *testing.T) {
	key, iv := b64(testKey), b64(testIV)
	phone := func(appid string) string {
		return seal(pkcs7([]byte(`{"phoneNumber":"1","purePhoneNumber":"1","countryCode":"86","watermark":{"appid":"` + appid + `"}}`)))
	}
	padded := func(plain string, pad ...byte) string { return seal(append([]byte(plain), pad...)) }
	tests := []struct {
		name, key, data, iv string
		kind                string // "raw", "phone" or "user"
		appID               string
	}{
		{"bad base64 in the session_key", "!!!!" + key[4:], sampleData, sampleIV, "raw", ""},
		{"bad base64 in the data", sampleSessionKey, "*" + sampleData[1:], sampleIV, "raw", ""},
		{"bad base64 in the iv", sampleSessionKey, sampleData, "r7BXXKkLb8qrSNn05n0q@A==", "raw", ""},
		{"a '+' a form decoder turned into ' '", sampleSessionKey, strings.ReplaceAll(sampleData, "+", " "), sampleIV, "raw", ""},
		{"the URL alphabet", sampleSessionKey, strings.NewReplacer("+", "-", "/", "_").Replace(sampleData), sampleIV, "raw", ""},
		{"non-canonical base64 bits", "tiihtNczf5v6AKRyjwEUhR==", sampleData, sampleIV, "raw", ""},
		{"a 24-byte key", b64(make([]byte, 24)), sampleData, sampleIV, "raw", ""},
		{"a 15-byte key", b64(make([]byte, 15)), sampleData, sampleIV, "raw", ""},
		{"an empty key", "", sampleData, sampleIV, "raw", ""},
		{"an 8-byte iv", sampleSessionKey, sampleData, b64(make([]byte, 8)), "raw", ""},
		{"an empty iv", sampleSessionKey, sampleData, "", "raw", ""},
		{"a ciphertext of 17 bytes", key, b64(make([]byte, 17)), iv, "raw", ""},
		{"a ciphertext of 15 bytes", key, b64(make([]byte, 15)), iv, "raw", ""},
		{"an empty ciphertext", key, "", iv, "raw", ""},
		{"the wrong key", b64(testKey), sampleData, sampleIV, "raw", ""},
		{"a pad byte of 0", key, padded("{}"+strings.Repeat(" ", 13), 0), iv, "raw", ""},
		{"a pad byte of 17", key, padded("{}"+strings.Repeat(" ", 13), 17), iv, "raw", ""},
		{"pad bytes that differ", key, padded("{}"+strings.Repeat(" ", 12), 3, 2), iv, "raw", ""},
		{"a full pad block that differs", key, padded("{}"+strings.Repeat(" ", 14), 15, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16), iv, "raw", ""},
		{"not JSON", key, seal(pkcs7([]byte("hello, world"))), iv, "raw", ""},
		{"truncated JSON", key, seal(pkcs7([]byte(`{"openId":"o"`))), iv, "raw", ""},
		{"a JSON array", key, seal(pkcs7([]byte(`[{"a":1}]`))), iv, "raw", ""},
		{"a JSON string", key, seal(pkcs7([]byte(`"{}"`))), iv, "raw", ""},
		{"user info for another appid", sampleSessionKey, sampleData, sampleIV, "user", "wxSomeoneElse"},
		{"user info with no appid to match", sampleSessionKey, sampleData, sampleIV, "user", ""},
		{"phone data for another appid", key, phone("wxOther"), iv, "phone", "wxAPP"},
		{"phone data without a watermark appid", key, phone(""), iv, "phone", ""},
		{"phone data without a number", key, seal(pkcs7([]byte(`{"watermark":{"appid":"wxAPP"}}`))), iv, "phone", "wxAPP"},
		{"phone data with a mistyped field", key, seal(pkcs7([]byte(`{"phoneNumber":1,"watermark":{"appid":"wxAPP"}}`))), iv, "phone", "wxAPP"},
		{"phone data with a boolean countryCode", key, seal(pkcs7([]byte(`{"phoneNumber":"1","countryCode":true,"watermark":{"appid":"wxAPP"}}`))), iv, "phone", "wxAPP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			var err error
			switch tt.kind {
			case "raw":
				got, err = DecryptOpenData(tt.key, tt.data, tt.iv)
				if got.([]byte) != nil {
					t.Errorf("returned %q with the error", got)
				}
			case "user":
				got, err = DecryptUserInfo(tt.key, tt.data, tt.iv, tt.appID)
				if got.(*UserInfo) != nil {
					t.Errorf("returned %+v with the error", got)
				}
			case "phone":
				got, err = DecryptPhone(tt.key, tt.data, tt.iv, tt.appID)
				if got.(*PhoneInfo) != nil {
					t.Errorf("returned %+v with the error", got)
				}
			}
			if err != ErrDecrypt { // the very value, never wrapped
				t.Errorf("got %v, want ErrDecrypt itself", err)
			}
		})
	}
}

func TestVerifyRawDataSignature(t *testing.T) {
	// A published getUserInfo pair; sha1sum of rawData+sessionKey agrees.
	const (
		rawData    = `{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}`
		signature  = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"
		sessionKey = "HyVFkGl5F5OQWJZZaNzBBg=="
	)
	tests := []struct {
		name, rawData, signature, sessionKey string
		want                                 bool
	}{
		{"the published signature", rawData, signature, sessionKey, true},
		{"uppercase hex", rawData, strings.ToUpper(signature), sessionKey, false},
		{"another session_key", rawData, signature, sampleSessionKey, false},
		{"tampered rawData", strings.Replace(rawData, "Band", "Bond", 1), signature, sessionKey, false},
		{"a truncated signature", rawData, signature[:39], sessionKey, false},
		{"an empty signature", rawData, "", sessionKey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyRawDataSignature(tt.rawData, tt.signature, tt.sessionKey); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzDecryptOpenData(f *testing.F) {
	f.Add(sampleSessionKey, sampleData, sampleIV)
	f.Add(strings.TrimRight(sampleSessionKey, "="), sampleData, sampleIV)
	f.Add(b64(testKey), seal(pkcs7([]byte(`{}`))), b64(testIV))
	f.Add(b64(testKey), seal(make([]byte, 32)), b64(testIV))
	f.Add("", "", "")
	f.Add("====", "AAAA\n", "=")
	f.Fuzz(func(t *testing.T, key, data, iv string) {
		plain, err := DecryptOpenData(key, data, iv)
		if err != nil {
			if err != ErrDecrypt || plain != nil {
				t.Fatalf("got %q, %v; want nil, ErrDecrypt", plain, err)
			}
			return
		}
		var obj map[string]any
		if json.Unmarshal(plain, &obj) != nil {
			t.Fatalf("returned %q, not a JSON object", plain)
		}
	})
}

// FuzzDecryptPhone feeds arbitrary plaintexts through a real encryption, so
// the fuzzer reaches the JSON and watermark checks behind the padding.
func FuzzDecryptPhone(f *testing.F) {
	f.Add([]byte(`{"phoneNumber":"1","countryCode":86,"watermark":{"appid":"wxAPP"}}`), "wxAPP", true)
	f.Add([]byte(`{"phoneNumber":"1","countryCode":"86","watermark":{"appid":"wxAPP"}}`), "wxAPP", true)
	f.Add([]byte(`{"phoneNumber":"1","countryCode":null,"watermark":{"appid":""}}`), "", true)
	f.Add([]byte(`{"countryCode":1e999}`), "wxAPP", true)
	f.Add([]byte(`{}`), "wxAPP", false)
	f.Fuzz(func(t *testing.T, plain []byte, appID string, padCorrectly bool) {
		raw := pkcs7(plain)
		if !padCorrectly { // let the fuzzer choose the padding too
			raw = plain[:len(plain)/aes.BlockSize*aes.BlockSize]
			if len(raw) == 0 {
				return
			}
		}
		p, err := DecryptPhone(b64(testKey), seal(raw), b64(testIV), appID)
		if err != nil {
			if err != ErrDecrypt || p != nil {
				t.Fatalf("got %+v, %v; want nil, ErrDecrypt", p, err)
			}
			return
		}
		if appID == "" || p.Watermark.AppID != appID || p.PhoneNumber == "" {
			t.Fatalf("accepted %+v for appid %q", p, appID)
		}
	})
}
