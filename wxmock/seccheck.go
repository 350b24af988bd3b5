package wxmock

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// DefaultRiskyWords are the words that make msg_sec_check judge a text risky
// unless Config.RiskyWords says otherwise: "risky", "违规", and the two test
// texts WeChat's msgSecCheck docs give for checking an integration ("特3456书
// yuuo莞6543李zxcz蒜7782法fgnv级", "完2347全dfji试3726测asad感3847知qwez到",
// which answer 87014 from version 1).
var DefaultRiskyWords = []string{
	"risky",
	"违规",
	"特3456书yuuo莞6543李zxcz蒜7782法fgnv级",
	"完2347全dfji试3726测asad感3847知qwez到",
}

// DefaultReviewWords are the words that make msg_sec_check answer "review"
// unless Config.ReviewWords says otherwise.
var DefaultReviewWords = []string{"review"}

// Labels msg_sec_check answers with: WeChat's numbers (silenceper/wechat
// miniprogram/security/security.go lists them: 100 正常, 20006 违法犯罪,
// 21000 其他). They are JSON numbers although the docs say string, as a
// report on the docs found (developers.weixin.qq.com community, "小程序文档
// 错误": "label 的类型文档中是 string, 但是实测是 number").
const (
	labelNormal = 100
	labelCrime  = 20006
	labelOther  = 21000
)

type secCheckRequest struct {
	Content     *string         `json:"content"`
	Version     json.RawMessage `json:"version"`
	Scene       json.RawMessage `json:"scene"`
	OpenID      string          `json:"openid"`
	Title       string          `json:"title"`
	Nickname    string          `json:"nickname"`
	Signature   string          `json:"signature"`
	AccessToken *string         `json:"access_token"`
}

type secCheckResult struct {
	Suggest string `json:"suggest"`
	Label   int    `json:"label"`
}

type secCheckDetail struct {
	Strategy string `json:"strategy"`
	ErrCode  int    `json:"errcode"`
	Suggest  string `json:"suggest,omitempty"`
	Label    int    `json:"label,omitempty"`
	Prob     int    `json:"prob,omitempty"`
}

// secCheckResponse is the version 2 answer, its fields in the order a
// captured answer has them (developers.weixin.qq.com community,
// "为什么security.msgSecCheck实际返回结果和官方给的结构不一致?"):
// {"errcode":0,"errmsg":"ok","detail":[{"strategy":"content_model","errcode":0,
// "suggest":"risky","label":20006,"prob":90},{"strategy":"keyword","errcode":0}],
// "trace_id":"62987eb8-18ca076c-37fc373b","result":{"suggest":"risky","label":20006}}.
type secCheckResponse struct {
	apiError
	Detail  []secCheckDetail `json:"detail"`
	TraceID string           `json:"trace_id"`
	Result  secCheckResult   `json:"result"`
}

// msgSecCheck is POST /wxa/msg_sec_check (msgSecCheck). Its errcodes are
// the ones WeChat's page for version 2 lists
// (developers.weixin.qq.com/miniprogram/en/security/content/security.msgSecCheck-v1.html
// and the minigame page of the same API): 40003 invalid openid, 40129 scene
// not 1–4, 43104 appid and openid do not match, 43302 not POST, 44002 empty
// parameter, 47001 data format. The fake answers 43104 for an openid of
// another app it serves and 40003 for one no app knows. 47001 also answers an
// access_token in the body: "必须且只能放在url中，body中如果放了，会报 47001"
// (community report "小程序文档错误", 2021). A body with version other than 2
// gets version 1's answer, as WeChat still gives it to content-only bodies:
// {"errcode":0,"errmsg":"ok"}, or 87014 risky content for a risky text.
//
// The verdict is the fake's own: a text containing one of Config.RiskyWords
// is risky (label 20006), else one containing a ReviewWords word needs
// review (label 21000), else it passes (label 100). Content, title, nickname
// and signature are all looked at. Not modelled: 61010 (the user has not
// opened the app in the last two hours) and the 2500-character limit.
func (s *Server) msgSecCheck(r *http.Request) any {
	if r.Method != http.MethodPost {
		return wxError(errSecCheckMethod)
	}
	a, errcode := s.checkAccessToken(r.URL.Query().Get("access_token"))
	if errcode != 0 {
		return wxError(errcode)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return wxError(errEmptyPostData)
	}
	var req secCheckRequest
	if err := json.Unmarshal(body, &req); err != nil || req.AccessToken != nil {
		return wxError(errDataFormat)
	}
	if v, _ := jsonInt(req.Version); v != 2 {
		if req.Content == nil || *req.Content == "" {
			return wxError(errEmptyPostData)
		}
		if suggest, _ := s.verdict(*req.Content); suggest == "risky" {
			return wxError(errRiskyContent)
		}
		return apiError{ErrCode: 0, ErrMsg: "ok"}
	}

	if scene, ok := jsonInt(req.Scene); !ok || scene < 1 || scene > 4 {
		return wxError(errInvalidScene)
	}
	s.mu.Lock()
	errcode = a.userOf(req.OpenID, true)
	s.mu.Unlock()
	if errcode != 0 {
		return wxError(errcode)
	}
	if req.Content == nil || *req.Content == "" {
		return wxError(errEmptyPostData)
	}
	suggest, label := s.verdict(*req.Content, req.Title, req.Nickname, req.Signature)
	prob := 90
	if suggest == "review" {
		prob = 60
	}
	return secCheckResponse{
		apiError: apiError{ErrCode: 0, ErrMsg: "ok"},
		Detail: []secCheckDetail{
			{Strategy: "content_model", ErrCode: 0, Suggest: suggest, Label: label, Prob: prob},
			{Strategy: "keyword", ErrCode: 0},
		},
		TraceID: rid(s.now()),
		Result:  secCheckResult{Suggest: suggest, Label: label},
	}
}

// verdict judges texts by the configured word lists: "risky", "review" or
// "pass", with the label WeChat gives each.
func (s *Server) verdict(texts ...string) (suggest string, label int) {
	contains := func(words []string) bool {
		for _, t := range texts {
			t = strings.ToLower(t)
			for _, w := range words {
				if w != "" && strings.Contains(t, strings.ToLower(w)) {
					return true
				}
			}
		}
		return false
	}
	switch {
	case contains(s.cfg.RiskyWords):
		return "risky", labelCrime
	case contains(s.cfg.ReviewWords):
		return "review", labelOther
	}
	return "pass", labelNormal
}

// jsonInt reads a JSON number, or a string of digits, as WeChat accepts
// either for msg_sec_check's version and scene ("version 参数，文档中是 string
// 类型。但是实测用 number 类型去请求一样可以").
func jsonInt(raw json.RawMessage) (int, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		n, err := strconv.Atoi(str)
		return n, err == nil
	}
	return 0, false
}
