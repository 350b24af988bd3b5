package integration

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// writeKeys writes PEM private keys to a file and returns its path.
func writeKeys(t *testing.T, keys ...any) string {
	t.Helper()
	var data []byte
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	path := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestASigningKeyFileRotatesByHandWithoutLoggingAnyoneOut(t *testing.T) {
	_, oldKey, _ := ed25519.GenerateKey(rand.Reader)
	newKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, "signing_key "+writeKeys(t, oldKey))
	oldToken := w.login(t, "alice")
	jwks := do(t, "GET", w.caddy.URL+"/wx/.well-known/jwks.json", "", "").JSON(t)
	if keys := jwks["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["alg"] != "EdDSA" {
		t.Fatalf("jwks with one Ed25519 key: %v", jwks)
	}

	// Rotate: the new key first signs, the old one still verifies.
	w.caddy.Stop()
	w.caddy = w.another(t, "signing_key "+writeKeys(t, newKey, oldKey))
	newToken := w.login(t, "bob")
	for name, tok := range map[string]string{"a token of the old key": oldToken, "a token of the new key": newToken} {
		if r := do(t, "GET", w.caddy.URL+"/api/me", tok, ""); r.Status != http.StatusOK {
			t.Fatalf("%s after rotation: %d %s", name, r.Status, r.Body)
		}
	}
	if keys := do(t, "GET", w.caddy.URL+"/wx/.well-known/jwks.json", "", "").JSON(t)["keys"].([]any); len(keys) != 2 {
		t.Fatalf("jwks after rotation has %d keys, want 2", len(keys))
	}

	// Remove the old key: its tokens are refused, the new key's are not.
	w.caddy.Stop()
	w.caddy = w.another(t, "signing_key "+writeKeys(t, newKey))
	wantError(t, do(t, "GET", w.caddy.URL+"/api/me", oldToken, ""), 401, "unauthorized")
	if r := do(t, "GET", w.caddy.URL+"/api/me", newToken, ""); r.Status != http.StatusOK {
		t.Fatalf("new key's token after removing the old key: %d", r.Status)
	}
}
