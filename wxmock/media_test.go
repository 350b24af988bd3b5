package wxmock

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestMediaUploadRecordsTheFileExactlyAsItArrived(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	// Every byte value, CRLFs and a fake boundary inside: a client that
	// re-encodes or trims the body changes the hash.
	data := bytes.Repeat([]byte("\r\n--boundary\x00\xff"), 1000)
	for i := range 256 {
		data = append(data, byte(i))
	}
	sum := sha256.Sum256(data)

	a := call(t, s, multipartRequest(t, withToken(PathMediaUpload, tok, "type", "image"),
		filePart{field: "description", data: []byte("a form field before the file")},
		filePart{field: "media", filename: "photo.JPG", contentType: "image/jpeg", data: data}))
	if a.errcode() != 0 || a.str("type") != "image" {
		t.Fatalf("answer %v", a.body)
	}
	if id := a.str("media_id"); !regexp.MustCompile(`^[A-Za-z0-9_-]{64}$`).MatchString(id) {
		t.Errorf("media_id = %q, want 64 URL-safe characters like WeChat's", id)
	}
	if a.body["created_at"] != json.Number(strconv.FormatInt(clock.Now().Unix(), 10)) {
		t.Errorf("created_at = %v, want the Unix time %d as a number", a.body["created_at"], clock.Now().Unix())
	}
	if _, ok := a.body["errcode"]; ok {
		t.Errorf("answer has an errcode; captured answers have none: %v", a.body)
	}

	ups := s.Uploads()
	if len(ups) != 1 {
		t.Fatalf("Uploads() = %+v, want one", ups)
	}
	want := Upload{AppID: testAppID, Type: "image", MediaID: a.str("media_id"), Filename: "photo.JPG",
		ContentType: "image/jpeg", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		CreatedAt: time.Unix(clock.Now().Unix(), 0)}
	if got := ups[0]; got != want {
		t.Errorf("Uploads()[0] = %+v\nwant          %+v", got, want)
	}
}

func TestMediaUploadAcceptsEachTypeUpToItsLimit(t *testing.T) {
	tests := []struct {
		typ, filename string
		size          int
	}{
		{"image", "a.png", 10 << 20},
		{"image", "a.gif", 1},
		{"voice", "a.mp3", 2 << 20},
		{"voice", "a.amr", 1},
		{"video", "a.mp4", 10 << 20},
		{"thumb", "a.jpg", 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.filename+" of "+strconv.Itoa(tt.size)+" bytes", func(t *testing.T) {
			s, _ := newTestServer(t, Config{})
			tok := mustToken(t, stableToken(t, s, false))
			a := call(t, s, multipartRequest(t, withToken(PathMediaUpload, tok, "type", tt.typ),
				filePart{field: "media", filename: tt.filename, data: bytes.Repeat([]byte{'x'}, tt.size)}))
			if a.errcode() != 0 || a.str("type") != tt.typ {
				t.Errorf("answer %v", a.body)
			}
			if ups := s.Uploads(); len(ups) != 1 || ups[0].Size != int64(tt.size) {
				t.Errorf("Uploads() = %+v", ups)
			}
		})
	}
}

func TestMediaUploadAnswersEachDocumentedError(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	png := filePart{field: "media", filename: "a.png", data: []byte("png")}
	target := withToken(PathMediaUpload, tok, "type", "image")
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"GET instead of POST", httptest.NewRequest(http.MethodGet, target, nil), errRequirePOST},
		{"no type", multipartRequest(t, withToken(PathMediaUpload, tok), png), errInvalidMediaType},
		{"a type WeChat does not know", multipartRequest(t, withToken(PathMediaUpload, tok, "type", `"image"`), png), errInvalidMediaType},
		{"a JSON body", jsonRequest(http.MethodPost, target, map[string]string{"media": "cG5n"}), errMediaDataMissing},
		{"no body", httptest.NewRequest(http.MethodPost, target, nil), errMediaDataMissing},
		{"a multipart body without a media part", multipartRequest(t, target, filePart{field: "file", filename: "a.png", data: []byte("png")}), errMediaDataMissing},
		{"a media field that is not a file", multipartRequest(t, target, filePart{field: "media", data: []byte("png")}), errMediaDataMissing},
		{"an empty file", multipartRequest(t, target, filePart{field: "media", filename: "a.png"}), errMediaDataMissing},
		{"a filename without an extension", multipartRequest(t, target, filePart{field: "media", filename: "phpsNnmJN", data: []byte("png")}), errInvalidFileType},
		{"a video named .png", multipartRequest(t, withToken(PathMediaUpload, tok, "type", "video"), png), errInvalidFileType},
		{"a png thumb", multipartRequest(t, withToken(PathMediaUpload, tok, "type", "thumb"), png), errInvalidFileType},
		{"an image over 10 MB", multipartRequest(t, target, filePart{field: "media", filename: "a.png", data: make([]byte, 10<<20+1)}), errInvalidMediaSize},
		{"a thumb over 64 KB", multipartRequest(t, withToken(PathMediaUpload, tok, "type", "thumb"),
			filePart{field: "media", filename: "a.jpg", data: make([]byte, 64<<10+1)}), errInvalidMediaSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := call(t, s, tt.req); a.errcode() != tt.want {
				t.Errorf("answer %v, want errcode %d", a.body, tt.want)
			}
		})
	}
	if ups := s.Uploads(); len(ups) != 0 {
		t.Errorf("refused uploads were recorded: %+v", ups)
	}
}

func TestMediaUploadErrmsgsAreWeChats(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	a := call(t, s, multipartRequest(t, withToken(PathMediaUpload, tok, "type", "thumb"),
		filePart{field: "media", filename: "a.jpg", data: make([]byte, 64<<10+1)}))
	if re := regexp.MustCompile(`^invalid meida size rid: ` + ridPattern + `$`); !re.MatchString(a.str("errmsg")) {
		t.Errorf("errmsg = %q, want WeChat's misspelt %q", a.str("errmsg"), re)
	}
}
