package wxmock

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// mediaRule is what media/upload accepts for one type: WeChat's size limit
// and file name extensions. From the Official Account docs of 新增临时素材
// (uploadTempMedia), which the mini program's customerServiceMessage.uploadTempMedia
// shares — same path, "目前仅支持图片": image 10 MB, PNG/JPEG/JPG/GIF; voice
// 2 MB, AMR/MP3; video 10 MB, MP4; thumb 64 KB, JPG. (The same page also
// says images 2 MB in one place; the fake takes the 10 MB of its list.)
type mediaRule struct {
	limit int64
	exts  []string
}

var mediaRules = map[string]mediaRule{
	"image": {10 << 20, []string{".png", ".jpeg", ".jpg", ".gif"}},
	"voice": {2 << 20, []string{".amr", ".mp3"}},
	"video": {10 << 20, []string{".mp4"}},
	"thumb": {64 << 10, []string{".jpg", ".jpeg"}},
}

// maxUploadBody bounds a whole media/upload body: the largest file and
// room for the multipart framing and small fields.
const maxUploadBody = 10<<20 + 1<<20

// maxUploadParts bounds the parts looked at before the media part.
const maxUploadParts = 16

// Upload is one file media/upload accepted, as the fake recorded it.
type Upload struct {
	AppID       string    `json:"appid"`        // the access_token's app
	Type        string    `json:"type"`         // image, voice, video or thumb
	MediaID     string    `json:"media_id"`     // as answered
	Filename    string    `json:"filename"`     // of the media part
	ContentType string    `json:"content_type"` // of the media part, as the client labelled it ("" if none)
	Size        int64     `json:"size"`         // bytes of the file
	SHA256      string    `json:"sha256"`       // lowercase hex of the file's SHA-256
	CreatedAt   time.Time `json:"created_at"`   // as answered, whole seconds
}

type mediaUploadResponse struct {
	Type      string `json:"type"`
	MediaID   string `json:"media_id"`
	CreatedAt int64  `json:"created_at"`
}

// mediaUpload is POST /cgi-bin/media/upload?type= (uploadTempMedia), a
// multipart/form-data body whose "media" part is the file. It answers
// {"type","media_id","created_at"} as a captured answer has it
// ({"type":"image","media_id":"loT4fy…(64 characters)","created_at":1567774545});
// the newer docs' examples add errcode 0 and errmsg "ok", which the captures
// lack.
//
// Errors, in the order the fake checks them: 43002 not POST; 40004 invalid
// media type for a type that is missing or not image, voice, video or thumb
// (w7corp/easywechat#319: a request without type); 41005 media data missing
// for a body that is not multipart, has no "media" file part (a part without
// a filename is a form field, not a file) or an empty file
// (JeffreySu/WeiXinMPSDK#104); 40005 invalid file type when the part's
// filename has no extension or one the type does not allow
// (w7corp/easywechat#1931, filename "phpsNnmJN"; developers.weixin.qq.com
// community: "filename必须带有后缀名", a video named ****.png answers 40005);
// 40006 "invalid meida size" (sic) over the type's limit (node-webot tests
// quote {"errcode":40006,"errmsg":"invalid meida size hint: [...]"}).
//
// Each accepted file is recorded with its size and SHA-256 (Uploads), so a
// test can check the multipart body arrived intact. The file's content is
// not checked, and not kept.
func (s *Server) mediaUpload(r *http.Request) any {
	if r.Method != http.MethodPost {
		return wxError(errRequirePOST)
	}
	q := r.URL.Query()
	a, errcode := s.checkAccessToken(q.Get("access_token"))
	if errcode != 0 {
		return wxError(errcode)
	}
	typ := q.Get("type")
	rule, ok := mediaRules[typ]
	if !ok {
		return wxError(errInvalidMediaType)
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return wxError(errMediaDataMissing)
	}
	mr := multipart.NewReader(io.LimitReader(r.Body, maxUploadBody), params["boundary"])
	for range maxUploadParts {
		part, err := mr.NextPart()
		if err != nil {
			break // io.EOF, or a body that is not the multipart it claims
		}
		if part.FormName() != "media" || part.FileName() == "" {
			continue // NextPart skips what is left of it
		}
		up, errcode := readMedia(part, rule)
		if errcode != 0 {
			return wxError(errcode)
		}
		up.AppID, up.Type = a.id, typ
		up.MediaID = newMediaID()
		s.mu.Lock()
		now := s.now()
		up.CreatedAt = time.Unix(now.Unix(), 0)
		s.uploads = append(s.uploads, up)
		s.mu.Unlock()
		return mediaUploadResponse{Type: typ, MediaID: up.MediaID, CreatedAt: now.Unix()}
	}
	return wxError(errMediaDataMissing)
}

// readMedia reads the file of a media part, checking its name and size
// against rule.
func readMedia(part *multipart.Part, rule mediaRule) (Upload, int) {
	name := part.FileName()
	if !slices.Contains(rule.exts, strings.ToLower(path.Ext(name))) {
		return Upload{}, errInvalidFileType
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(part, rule.limit+1))
	switch {
	case n > rule.limit:
		return Upload{}, errInvalidMediaSize
	case err != nil || n == 0:
		return Upload{}, errMediaDataMissing
	}
	return Upload{
		Filename:    name,
		ContentType: part.Header.Get("Content-Type"),
		Size:        n,
		SHA256:      hex.EncodeToString(h.Sum(nil)),
	}, 0
}

// newMediaID returns a media_id shaped like WeChat's: 64 URL-safe
// characters.
func newMediaID() string {
	var b [48]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Uploads returns every file media/upload has accepted since New or the
// last Reset, for every app, oldest first.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// Uploads returns the files media/upload accepted for this app, oldest
// first.
func (a *AppHandle) Uploads() []Upload {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return ofApp(a.s.uploads, a.id, func(up Upload) string { return up.AppID })
}

// ofApp is the records of records that belong to appid, in order.
func ofApp[T any](records []T, appid string, appOf func(T) string) []T {
	var out []T
	for _, r := range records {
		if appOf(r) == appid {
			out = append(out, r)
		}
	}
	return out
}
