package wxmock

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Image sizes from WeChat's getUnlimitedQRCode docs: width defaults to 430
// px, "最小 280px，最大 1280px".
const (
	wxaCodeDefaultWidth = 430
	wxaCodeMinWidth     = 280
	wxaCodeMaxWidth     = 1280
)

// sceneChars are the characters WeChat allows in a scene besides ASCII
// letters and digits: "只支持数字，大小写英文以及部分特殊字符：!#$&'()*+,/:;=?@-._~"
// (getUnlimitedQRCode docs; silenceper/wechat miniprogram/qrcode/qrcode.go).
const sceneChars = "!#$&'()*+,/:;=?@-._~"

// wxaCodeComment starts the JPEG comment that carries what the code was made
// for, so that a test can read back what reached WeChat (DecodeWXACode).
const wxaCodeComment = "wxmock getwxacodeunlimit\n"

type wxaCodeRequest struct {
	Scene      *string         `json:"scene"`
	Page       string          `json:"page"`
	CheckPath  *bool           `json:"check_path"`
	EnvVersion *string         `json:"env_version"`
	Width      int             `json:"width"`
	AutoColor  bool            `json:"auto_color"`
	LineColor  json.RawMessage `json:"line_color"`
	IsHyaline  bool            `json:"is_hyaline"`
}

// getWXACodeUnlimit is POST /wxa/getwxacodeunlimit (getUnlimitedQRCode). On
// success it answers the image itself, Content-Type image/jpeg — what
// silenceper/wechat (miniprogram/qrcode/qrcode.go) takes as success and what
// real answers carry (the JFIF bytes quoted in hpyer/node-easywechat#92) —
// and on failure JSON under application/json, like every other API.
//
// Errors, each as real answers show them: 47001 data format error for a body
// that is not JSON (binarywang/WxJava#395 and #428, a Java toString() sent
// as the body); 40169 "invalid length for scene, or the data is not json
// string" for a scene that is missing, empty or longer than 32 characters
// ({"page":"pages/index/index"} alone answers it — developers.weixin.qq.com
// community, 2018); 40129 invalid scene for a character outside
// [0-9A-Za-z!#$&'()*+,/:;=?@-._~]; 41030 invalid page for a page starting
// with "/" or carrying a query (WeChat: "根路径前不要填加 /，不能携带参数";
// segmentfault.com/a/1190000022760108); 40097 invalid args for an env_version
// other than release, trial or develop, "" included (ArtisanCloud/PowerWeChat#430).
//
// Not modelled: whether the page exists in the published version (check_path)
// and the colours (auto_color, line_color, is_hyaline) — the image does not
// change with them. A width outside 280–1280 is clamped.
func (s *Server) getWXACodeUnlimit(r *http.Request) any {
	if r.Method != http.MethodPost {
		return wxError(errRequirePOST)
	}
	a, errcode := s.checkAccessToken(r.URL.Query().Get("access_token"))
	if errcode != 0 {
		return wxError(errcode)
	}
	var req wxaCodeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		return wxError(errDataFormat)
	}
	switch {
	case req.Scene == nil || *req.Scene == "" || len(*req.Scene) > 32:
		return wxError(errSceneLength)
	case !validScene(*req.Scene):
		return wxError(errInvalidScene)
	case strings.HasPrefix(req.Page, "/") || strings.Contains(req.Page, "?"):
		return wxError(errInvalidPage)
	case req.EnvVersion != nil && *req.EnvVersion != "release" && *req.EnvVersion != "trial" && *req.EnvVersion != "develop":
		return wxError(errInvalidArgs)
	}
	return rawBody{contentType: "image/jpeg", data: a.WXACode(*req.Scene, req.Page, req.Width)}
}

func validScene(scene string) bool {
	for _, c := range scene {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune(sceneChars, c)) {
			return false
		}
	}
	return true
}

func wxaCodeWidth(width int) int {
	if width == 0 {
		return wxaCodeDefaultWidth
	}
	return min(max(width, wxaCodeMinWidth), wxaCodeMaxWidth)
}

// WXACode returns the image getwxacodeunlimit answers when the default app
// asks for a code with scene, page and width (0 for the default, 430): a
// valid JPEG, width pixels square, the same bytes for the same arguments and
// different ones for any other. Compare it with what a client received to
// check the image passed through unchanged.
func (s *Server) WXACode(scene, page string, width int) []byte {
	return s.apps[0].WXACode(scene, page, width)
}

// WXACode is Server.WXACode for a code of this app.
func (a *AppHandle) WXACode(scene, page string, width int) []byte {
	info := WXACodeInfo{AppID: a.id, Scene: scene, Page: page, Width: wxaCodeWidth(width)}
	return info.image()
}

// WXACodeInfo is what a code from the fake's getwxacodeunlimit was made for.
type WXACodeInfo struct {
	AppID string // the access_token's app
	Scene string
	Page  string // "" when the request had none
	Width int    // in pixels, after defaulting and clamping
}

// DecodeWXACode reads what an image from the fake's getwxacodeunlimit was
// made for, from a comment the fake puts in the JPEG. It fails for any other
// image, or one whose bytes were changed on the way.
func DecodeWXACode(img []byte) (WXACodeInfo, error) {
	comment, err := jpegComment(img)
	if err != nil {
		return WXACodeInfo{}, fmt.Errorf("wxmock: not a code from wxmock: %w", err)
	}
	q, err := url.ParseQuery(strings.TrimPrefix(comment, wxaCodeComment))
	if err != nil || !strings.HasPrefix(comment, wxaCodeComment) {
		return WXACodeInfo{}, errors.New("wxmock: not a code from wxmock: foreign JPEG comment")
	}
	width, _ := strconv.Atoi(q.Get("width"))
	info := WXACodeInfo{AppID: q.Get("appid"), Scene: q.Get("scene"), Page: q.Get("page"), Width: width}
	if !bytes.Equal(info.image(), img) {
		return WXACodeInfo{}, errors.New("wxmock: the code's bytes differ from what wxmock answered")
	}
	return info, nil
}

// image draws a square of width pixels: a 25×25 grid of black and white
// modules in a white margin, the modules a function of everything in info, so
// that different requests get visibly different codes. A JPEG comment (COM
// segment) right after SOI records info. Go's JPEG encoder is deterministic,
// so the same info gives the same bytes.
func (info WXACodeInfo) image() []byte {
	const modules, margin = 25, 2
	params := url.Values{
		"appid": {info.AppID},
		"scene": {info.Scene},
		"page":  {info.Page},
		"width": {strconv.Itoa(info.Width)},
	}.Encode()

	var bits []byte
	for seed := sha256.Sum256([]byte(params)); len(bits)*8 < modules*modules; seed = sha256.Sum256(seed[:]) {
		bits = append(bits, seed[:]...)
	}
	w := info.Width
	cell := max(1, w/(modules+2*margin))
	offset := (w - cell*modules) / 2
	img := image.NewGray(image.Rect(0, 0, w, w))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for m := range modules * modules {
		if bits[m/8]>>(m%8)&1 == 0 {
			continue
		}
		x0, y0 := offset+(m%modules)*cell, offset+(m/modules)*cell
		for y := y0; y < y0+cell; y++ {
			for x := x0; x < x0+cell; x++ {
				img.SetGray(x, y, color.Gray{})
			}
		}
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}) // writing to memory cannot fail
	enc := buf.Bytes()

	payload := wxaCodeComment + params
	out := make([]byte, 0, len(enc)+4+len(payload))
	out = append(out, enc[:2]...) // SOI
	out = append(out, 0xff, 0xfe)
	out = binary.BigEndian.AppendUint16(out, uint16(2+len(payload)))
	out = append(out, payload...)
	return append(out, enc[2:]...)
}

// jpegComment returns the payload of the first COM segment of a JPEG, looking
// only at the segments before the image data.
func jpegComment(b []byte) (string, error) {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return "", errors.New("not a JPEG")
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return "", errors.New("malformed JPEG segment")
		}
		marker := b[i+1]
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return "", errors.New("truncated JPEG segment")
		}
		if marker == 0xfe {
			return string(b[i+4 : i+2+n]), nil
		}
		if marker == 0xda { // start of scan: no comment before the image data
			break
		}
		i += 2 + n
	}
	return "", errors.New("no JPEG comment")
}
