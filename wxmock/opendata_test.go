package wxmock

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
)

// decryptOpenData is the decryption from WeChat's "开放数据校验与解密" page,
// written independently of the fake: AES-128-CBC, key and iv base64-decoded,
// PKCS#7 padding.
func decryptOpenData(sessionKey, encryptedData, iv string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil {
		return nil, err
	}
	ivb, err := base64.StdEncoding.DecodeString(iv)
	if err != nil {
		return nil, err
	}
	data, err := base64.StdEncoding.DecodeString(encryptedData)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(ivb) != aes.BlockSize || len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, errors.New("bad lengths")
	}
	cipher.NewCBCDecrypter(block, ivb).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(data[len(data)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("bad padding")
	}
	return data[:len(data)-pad], nil
}

func TestEncryptedPhoneDecryptsToTheDocumentedJSONUnderTheLatestSessionKey(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	stale := login(t, s, "alice").str("session_key")
	key := login(t, s, "alice").str("session_key")

	data, iv, err := s.EncryptedPhone("alice", "13800138000")
	if err != nil {
		t.Fatalf("EncryptedPhone: %v", err)
	}
	plain, err := decryptOpenData(key, data, iv)
	if err != nil {
		t.Fatalf("decrypting with the latest session_key: %v", err)
	}
	var got struct {
		PhoneNumber     string `json:"phoneNumber"`
		PurePhoneNumber string `json:"purePhoneNumber"`
		CountryCode     string `json:"countryCode"`
		Watermark       struct {
			Timestamp int64  `json:"timestamp"`
			AppID     string `json:"appid"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(plain, &got); err != nil {
		t.Fatalf("plaintext %s is not the documented JSON: %v", plain, err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"phoneNumber", got.PhoneNumber, "13800138000"},
		{"purePhoneNumber", got.PurePhoneNumber, "13800138000"},
		{"countryCode", got.CountryCode, "86"},
		{"watermark.appid", got.Watermark.AppID, testAppID},
		{"watermark.timestamp", got.Watermark.Timestamp, clock.Now().Unix()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if p, err := decryptOpenData(stale, data, iv); err == nil && json.Valid(p) {
		t.Errorf("data also decrypts under the superseded session_key")
	}
}

func TestEncryptedPhoneUsesAFreshIVEachTime(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	login(t, s, "alice")
	data1, iv1, err1 := s.EncryptedPhone("alice", "13800138000")
	data2, iv2, err2 := s.EncryptedPhone("alice", "13800138000")
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if iv1 == iv2 || data1 == data2 {
		t.Errorf("two encryptions share an iv or ciphertext")
	}
}

func TestEncryptedProfileIsSignedAndDecryptsToTheUsersIdentity(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	key := login(t, s, "alice").str("session_key")

	rawData, signature, data, iv, err := s.EncryptedProfile("alice")
	if err != nil {
		t.Fatalf("EncryptedProfile: %v", err)
	}
	if want := rawDataSignature(rawData, key); signature != want {
		t.Errorf("signature = %s, want sha1(rawData + session_key) = %s", signature, want)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(rawData), &raw); err != nil {
		t.Fatalf("rawData %q is not JSON: %v", rawData, err)
	}
	if raw["nickName"] != "微信用户" || raw["avatarUrl"] == "" {
		t.Errorf("rawData = %s, want WeChat's anonymous profile", rawData)
	}
	if _, ok := raw["openId"]; ok {
		t.Errorf("rawData reveals the openId; WeChat only puts it in encryptedData")
	}

	plain, err := decryptOpenData(key, data, iv)
	if err != nil {
		t.Fatalf("decrypting: %v", err)
	}
	var got struct {
		OpenID    string `json:"openId"`
		UnionID   string `json:"unionId"`
		NickName  string `json:"nickName"`
		AvatarURL string `json:"avatarUrl"`
		Watermark struct {
			AppID string `json:"appid"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(plain, &got); err != nil {
		t.Fatalf("plaintext %s: %v", plain, err)
	}
	checks := []struct {
		field, got, want string
	}{
		{"openId", got.OpenID, s.OpenID("alice")},
		{"unionId", got.UnionID, s.UnionID("alice")},
		{"nickName", got.NickName, raw["nickName"].(string)},
		{"avatarUrl", got.AvatarURL, raw["avatarUrl"].(string)},
		{"watermark.appid", got.Watermark.AppID, testAppID},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
}

func TestOpenDataForAUserWhoNeverLoggedInFails(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	s.Code("bob") // a minted but unredeemed code gives no session_key
	_, _, errPhone := s.EncryptedPhone("bob", "13800138000")
	_, _, _, _, errProfile := s.EncryptedProfile("bob")
	for name, err := range map[string]error{"EncryptedPhone": errPhone, "EncryptedProfile": errProfile} {
		if !errors.Is(err, ErrNoSession) {
			t.Errorf("%s error = %v, want one wrapping ErrNoSession", name, err)
		}
	}
}
