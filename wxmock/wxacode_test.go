package wxmock

import (
	"bytes"
	"image/jpeg"
	"net/http"
	"strings"
	"testing"
)

func TestGetWXACodeUnlimitAnswersAJPEGMadeForTheRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      map[string]any
		wantWidth int
		wantPage  string
	}{
		{"scene and page, default width", map[string]any{"scene": "id=42", "page": "pages/item/item"}, 430, "pages/item/item"},
		{"scene alone", map[string]any{"scene": "a"}, 430, ""},
		{"every allowed character", map[string]any{"scene": "aZ09!#$&'()*+,/:;=?@-._~"}, 430, ""},
		{"a width in range", map[string]any{"scene": "w", "width": 300}, 300, ""},
		{"a small width is raised to 280", map[string]any{"scene": "w", "width": 100}, 280, ""},
		{"a large width is lowered to 1280", map[string]any{"scene": "w", "width": 5000}, 1280, ""},
		{"documented extras are accepted", map[string]any{"scene": "x", "check_path": false, "env_version": "develop",
			"auto_color": true, "line_color": map[string]int{"r": 1, "g": 2, "b": 3}, "is_hyaline": true}, 430, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			tok := mustToken(t, stableToken(t, s, false))
			a := call(t, s, jsonRequest(http.MethodPost, withToken(PathGetWXACodeUnlimit, tok), tt.body))
			if a.image == nil {
				t.Fatalf("answer %v, want an image", a.body)
			}
			if n := a.rec.Header().Get("Content-Length"); n == "" {
				t.Errorf("no Content-Length on the image")
			}
			img, err := jpeg.Decode(bytes.NewReader(a.image))
			if err != nil {
				t.Fatalf("image is not a valid JPEG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tt.wantWidth || b.Dy() != tt.wantWidth {
				t.Errorf("image is %v, want %d px square", b, tt.wantWidth)
			}
			info, err := DecodeWXACode(a.image)
			scene, _ := tt.body["scene"].(string)
			if err != nil || info != (WXACodeInfo{AppID: testAppID, Scene: scene, Page: tt.wantPage, Width: tt.wantWidth}) {
				t.Errorf("DecodeWXACode = %+v, %v", info, err)
			}
			width, _ := tt.body["width"].(int)
			if !bytes.Equal(a.image, s.WXACode(scene, tt.wantPage, width)) {
				t.Errorf("the answer differs from WXACode's bytes for the same request")
			}
		})
	}
}

func TestGetWXACodeUnlimitGivesEachSceneItsOwnBytesAndEachRequestTheSame(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	get := func(scene string) []byte {
		return call(t, s, jsonRequest(http.MethodPost, withToken(PathGetWXACodeUnlimit, tok), map[string]any{"scene": scene})).image
	}
	a1, a2, b := get("a=1"), get("a=1"), get("a=2")
	if !bytes.Equal(a1, a2) {
		t.Errorf("two requests for the same scene answered different bytes")
	}
	if bytes.Equal(a1, b) {
		t.Errorf("two scenes answered the same bytes")
	}
	if bytes.Equal(s.WXACode("a=1", "", 0), s.WXACode("a=1", "pages/index/index", 0)) {
		t.Errorf("two pages give the same bytes")
	}
}

func TestDecodeWXACodeRejectsImagesNotFromTheFakeOrAltered(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	good := s.WXACode("id=1", "", 0)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-10] ^= 0xff
	renamed := bytes.Replace(bytes.Clone(good), []byte("scene=id%3D1"), []byte("scene=id%3D2"), 1)
	tests := []struct {
		name string
		img  []byte
	}{
		{"nothing", nil},
		{"not a JPEG", []byte(`{"errcode":40001}`)},
		{"a byte of the image data changed", flipped},
		{"the comment changed", renamed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if info, err := DecodeWXACode(tt.img); err == nil {
				t.Errorf("DecodeWXACode = %+v, want an error", info)
			}
		})
	}
}

func TestGetWXACodeUnlimitAnswersEachDocumentedErrorAsJSON(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	tests := []struct {
		name   string
		method string
		body   any
		want   int
	}{
		{"GET instead of POST", http.MethodGet, nil, errRequirePOST},
		{"a body that is not JSON", http.MethodPost, "WxMaWxcodeLimit(scene=123, page=pages/index/index)", errDataFormat},
		{"no body", http.MethodPost, "", errDataFormat},
		{"no scene", http.MethodPost, map[string]any{"page": "pages/index/index"}, errSceneLength},
		{"an empty scene", http.MethodPost, map[string]any{"scene": ""}, errSceneLength},
		{"a scene of 33 characters", http.MethodPost, map[string]any{"scene": strings.Repeat("a", 33)}, errSceneLength},
		{"a scene with a space", http.MethodPost, map[string]any{"scene": "a b"}, errInvalidScene},
		{"a scene with Chinese", http.MethodPost, map[string]any{"scene": "房间"}, errInvalidScene},
		{"a scene with a percent sign", http.MethodPost, map[string]any{"scene": "a%20b"}, errInvalidScene},
		{"a page with a leading slash", http.MethodPost, map[string]any{"scene": "a", "page": "/pages/index/index"}, errInvalidPage},
		{"a page with a query", http.MethodPost, map[string]any{"scene": "a", "page": "pages/index/index?id=1"}, errInvalidPage},
		{"an empty env_version", http.MethodPost, map[string]any{"scene": "a", "env_version": ""}, errInvalidArgs},
		{"an unknown env_version", http.MethodPost, map[string]any{"scene": "a", "env_version": "beta"}, errInvalidArgs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s, jsonRequest(tt.method, withToken(PathGetWXACodeUnlimit, tok), tt.body))
			if a.image != nil || a.errcode() != tt.want {
				t.Errorf("answer %v (image %t), want JSON errcode %d", a.body, a.image != nil, tt.want)
			}
		})
	}
	if n := s.Stats().Calls[PathGetWXACodeUnlimit]; n != len(tests) {
		t.Errorf("Calls = %d, want %d", n, len(tests))
	}
}
