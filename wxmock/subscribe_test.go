package wxmock

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"testing"
)

func TestSubscribeSendAnswersAMsgIDAndRecordsTheMessage(t *testing.T) {
	s, clock := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	alice := s.OpenID("alice")
	body := `{"touser":"` + alice + `","template_id":"t7jHOgnrU4zbr8VFuQdA7LPjSplAQSlH5GHYtp6mXsk",` +
		`"page":"pages/order/order?id=7","miniprogram_state":"trial","lang":"zh_CN",` +
		`"data":{"thing1":{"value":"新剧"},"amount2":{"value":"¥214.00"},"number3":{"value":20}}}`

	a := call(t, s, jsonRequest(http.MethodPost, withToken(PathSubscribeSend, tok), body))
	if a.errcode() != 0 || a.str("errmsg") != "ok" {
		t.Fatalf("answer %v, want errcode 0 errmsg ok", a.body)
	}
	msgid, err := a.body["msgid"].(json.Number).Int64()
	if err != nil || msgid < 1<<53 {
		t.Errorf("msgid = %v (%v), want a number as large as WeChat's (beyond float64's exact integers)", a.body["msgid"], err)
	}

	sent := s.Sent()
	if len(sent) != 1 {
		t.Fatalf("Sent() = %+v, want one message", sent)
	}
	got := sent[0]
	want := SentMessage{
		AppID: testAppID, MsgID: msgid, ToUser: alice, TemplateID: "t7jHOgnrU4zbr8VFuQdA7LPjSplAQSlH5GHYtp6mXsk",
		Page: "pages/order/order?id=7", MiniprogramState: "trial", Lang: "zh_CN",
		Data: map[string]string{"thing1": "新剧", "amount2": "¥214.00", "number3": "20"},
		Body: json.RawMessage(body), Time: clock.Now(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sent()[0] = %+v\nwant        %+v", got, want)
	}
}

func TestSubscribeSendGivesEachMessageItsOwnMsgID(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	send := goodBackendCalls(t, s)[PathSubscribeSend]
	seen := map[string]bool{}
	for range 5 {
		id := string(call(t, s, send(tok)).body["msgid"].(json.Number))
		if seen[id] {
			t.Fatalf("msgid %s answered twice", id)
		}
		seen[id] = true
	}
	for i, m := range s.Sent() {
		if !seen[strconv.FormatInt(m.MsgID, 10)] {
			t.Errorf("Sent()[%d].MsgID %d was never answered", i, m.MsgID)
		}
	}
}

func TestSubscribeSendAnswersEachDocumentedError(t *testing.T) {
	s := newTwoAppServer(t)
	tok := appToken(t, s, testAppID)
	alice := s.OpenID("alice")
	msg := func(change map[string]any) map[string]any {
		m := map[string]any{"touser": alice, "template_id": "tmpl", "data": map[string]any{"thing1": map[string]any{"value": "x"}}}
		for k, v := range change {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name    string
		method  string
		body    any
		want    int
		wantMsg string // the errmsg before the rid, when it matters
	}{
		{"GET instead of POST", http.MethodGet, nil, errRequirePOST, ""},
		{"a body that is not JSON", http.MethodPost, "touser=x", errDataFormat, ""},
		{"no body", http.MethodPost, "", errDataFormat, ""},
		{"no touser", http.MethodPost, msg(map[string]any{"touser": nil}), errInvalidOpenID, "invalid openid"},
		{"a touser nobody named", http.MethodPost, msg(map[string]any{"touser": openID(testAppID, "stranger")}), errInvalidOpenID, ""},
		{"a touser of the other app", http.MethodPost, msg(map[string]any{"touser": s.App(otherAppID).OpenID("alice")}), errInvalidOpenID, ""},
		{"no template_id", http.MethodPost, msg(map[string]any{"template_id": nil}), errInvalidTemplateID, "invalid template_id"},
		{"no data", http.MethodPost, msg(map[string]any{"data": nil}), errArgumentInvalid, "argument invalid!"},
		{"empty data", http.MethodPost, msg(map[string]any{"data": map[string]any{}}), errArgumentInvalid, "argument invalid!"},
		{"a keyword with an empty value", http.MethodPost, msg(map[string]any{"data": map[string]any{
			"amount1": map[string]any{"value": "¥1"}, "thing3": map[string]any{"value": ""}}}),
			errArgumentInvalid, "argument invalid! data.thing3.value is emtpy"},
		{"a keyword without a value", http.MethodPost, msg(map[string]any{"data": map[string]any{"thing2": map[string]any{"color": "#000"}}}),
			errArgumentInvalid, "argument invalid! data.thing2.value is emtpy"},
		{"a keyword that is not an object", http.MethodPost, msg(map[string]any{"data": map[string]any{"thing2": "x"}}),
			errArgumentInvalid, "argument invalid! data.thing2.value is emtpy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s, jsonRequest(tt.method, withToken(PathSubscribeSend, tok), tt.body))
			if a.errcode() != tt.want {
				t.Errorf("answer %v, want errcode %d", a.body, tt.want)
			}
			if tt.wantMsg != "" {
				if re := regexp.MustCompile("^" + regexp.QuoteMeta(tt.wantMsg) + " rid: " + ridPattern + "$"); !re.MatchString(a.str("errmsg")) {
					t.Errorf("errmsg = %q, want it to match %s", a.str("errmsg"), re)
				}
			}
		})
	}
	if sent := s.Sent(); len(sent) != 0 {
		t.Errorf("refused messages were recorded: %+v", sent)
	}
}

func TestSubscribeSendRefusalInjectedWithFailSendsNothing(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	send := goodBackendCalls(t, s)[PathSubscribeSend]
	s.Fail(PathSubscribeSend, errUserRefused, 1)
	a := call(t, s, send(tok))
	if re := regexp.MustCompile(`^user refuse to accept the msg rid: ` + ridPattern + `$`); a.errcode() != errUserRefused || !re.MatchString(a.str("errmsg")) {
		t.Errorf("answer %v, want 43101 with WeChat's errmsg", a.body)
	}
	if len(s.Sent()) != 0 {
		t.Errorf("a refused message was recorded")
	}
}

func TestResetForgetsSentMessagesAndUploadsButNotUsers(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	calls := goodBackendCalls(t, s)
	call(t, s, calls[PathSubscribeSend](tok))
	call(t, s, calls[PathMediaUpload](tok))
	s.Reset()
	if len(s.Sent()) != 0 || len(s.Uploads()) != 0 {
		t.Errorf("records survived Reset: %+v %+v", s.Sent(), s.Uploads())
	}
	if a := call(t, s, calls[PathSubscribeSend](tok)); a.errcode() != 0 {
		t.Errorf("after Reset alice is no longer a user: %v", a.body)
	}
}
