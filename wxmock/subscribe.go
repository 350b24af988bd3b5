package wxmock

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"time"
)

// SentMessage is one subscribe message subscribe/send accepted, as the fake
// recorded it.
type SentMessage struct {
	AppID            string            `json:"appid"` // the access_token's app
	MsgID            int64             `json:"msgid"` // as answered
	ToUser           string            `json:"touser"`
	TemplateID       string            `json:"template_id"`
	Page             string            `json:"page,omitempty"`
	Data             map[string]string `json:"data"` // each keyword's value; a value that is not a JSON string as its JSON text
	MiniprogramState string            `json:"miniprogram_state,omitempty"`
	Lang             string            `json:"lang,omitempty"`
	Body             json.RawMessage   `json:"body"` // the request body exactly as received
	Time             time.Time         `json:"time"`
}

type subscribeResponse struct {
	apiError
	MsgID int64 `json:"msgid"`
}

// subscribeSend is POST /cgi-bin/message/subscribe/send (sendMessage):
// {"touser","template_id","page","data":{"thing1":{"value":…},…},
// "miniprogram_state","lang"} → {"errcode":0,"errmsg":"ok","msgid":N}, the
// shape silenceper/wechat (miniprogram/subscribe/subscribe.go, SendGetMsgID)
// reads. msgid is a random 19-digit number, as large as real ones
// ({"errcode":0,"errmsg":"ok","msgid":3564882607550627844} and
// 1253912252621750272 are quoted in clients' comments), beyond float64's
// exact integers, so a client that turns it into a float64 loses digits here
// too.
//
// Errors: 43002 not POST; 47001 a body that is not JSON; 40003 invalid openid
// for a touser that is empty or not a user of the token's app — an openid
// of another app included ("openapi.subscribeMessage.send:fail invalid
// openid", UxxHans/Rainbow-Cats-Personal-WeChat-MiniProgram#71); 40037
// invalid template_id when it is empty (WeChat also answers it for another
// account's template; the fake knows no templates and takes any other);
// 47003 "argument invalid! data.thing3.value is emtpy" (sic, as captured in
// the developers.weixin.qq.com community, "发送订阅消息报错47003") for a data
// keyword without a value, and "argument invalid!" for no data at all.
//
// Not modelled: the user's consent — WeChat answers 43101 "user refuse to
// accept the msg" (binarywang/WxJava#1387) once a one-time subscription is
// used up; inject it with Fail — nor the keyword rules (thing ≤ 20
// characters, …) and page checks (41030).
func (s *Server) subscribeSend(r *http.Request) any {
	if r.Method != http.MethodPost {
		return wxError(errRequirePOST)
	}
	a, errcode := s.checkAccessToken(r.URL.Query().Get("access_token"))
	if errcode != 0 {
		return wxError(errcode)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return wxError(errDataFormat)
	}
	var req struct {
		ToUser           string                     `json:"touser"`
		TemplateID       string                     `json:"template_id"`
		Page             string                     `json:"page"`
		Data             map[string]json.RawMessage `json:"data"`
		MiniprogramState string                     `json:"miniprogram_state"`
		Lang             string                     `json:"lang"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return wxError(errDataFormat)
	}

	s.mu.Lock()
	errcode = a.userOf(req.ToUser, false)
	s.mu.Unlock()
	switch {
	case errcode != 0:
		return wxError(errcode)
	case req.TemplateID == "":
		return wxError(errInvalidTemplateID)
	case len(req.Data) == 0:
		return wxError(errArgumentInvalid)
	}
	data, bad := keywordValues(req.Data)
	if bad != "" {
		return wxErrorDetail{code: errArgumentInvalid, msg: "argument invalid! data." + bad + ".value is emtpy"}
	}

	msg := SentMessage{
		AppID:            a.id,
		MsgID:            newMsgID(),
		ToUser:           req.ToUser,
		TemplateID:       req.TemplateID,
		Page:             req.Page,
		Data:             data,
		MiniprogramState: req.MiniprogramState,
		Lang:             req.Lang,
		Body:             bytes.Clone(body),
	}
	s.mu.Lock()
	msg.Time = s.now()
	s.sent = append(s.sent, msg)
	s.mu.Unlock()
	return subscribeResponse{apiError: apiError{ErrCode: 0, ErrMsg: "ok"}, MsgID: msg.MsgID}
}

// keywordValues reads data's {"value":…} objects. It returns the first
// keyword (in sorted order, so the answer is stable) whose value is missing
// or empty.
func keywordValues(data map[string]json.RawMessage) (map[string]string, string) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	values := make(map[string]string, len(data))
	for _, k := range keys {
		var item struct {
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(data[k], &item) != nil || len(item.Value) == 0 || string(item.Value) == "null" {
			return nil, k
		}
		var v string
		if json.Unmarshal(item.Value, &v) != nil {
			v = string(item.Value)
		}
		if v == "" {
			return nil, k
		}
		values[k] = v
	}
	return values, ""
}

func newMsgID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return int64(binary.BigEndian.Uint64(b[:])>>1 | 1<<61)
}

// Sent returns every subscribe message subscribe/send has accepted since
// New or the last Reset, for every app, oldest first.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Sent returns the subscribe messages this app's access_tokens sent, oldest
// first.
func (a *AppHandle) Sent() []SentMessage {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return ofApp(a.s.sent, a.id, func(m SentMessage) string { return m.AppID })
}
