package wxmock

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
)

func TestMsgSecCheckJudgesTextsByTheConfiguredWords(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		body        map[string]any // openid, version and scene are added
		wantSuggest string
		wantLabel   string
	}{
		{"ordinary content passes", Config{}, map[string]any{"content": "今天天气不错"}, "pass", "100"},
		{"a default risky word is risky", Config{}, map[string]any{"content": "这条内容违规了"}, "risky", "20006"},
		{"risky is matched regardless of case", Config{}, map[string]any{"content": "Very RISKY stuff"}, "risky", "20006"},
		{"WeChat's documented test text is risky", Config{}, map[string]any{"content": "特3456书yuuo莞6543李zxcz蒜7782法fgnv级"}, "risky", "20006"},
		{"a review word needs review", Config{}, map[string]any{"content": "please review me"}, "review", "21000"},
		{"risky beats review", Config{}, map[string]any{"content": "review this risky text"}, "risky", "20006"},
		{"the title is looked at too", Config{}, map[string]any{"content": "fine", "title": "违规标题"}, "risky", "20006"},
		{"the nickname is looked at too", Config{}, map[string]any{"content": "fine", "nickname": "risky-nick"}, "risky", "20006"},
		{"a configured word replaces the defaults", Config{RiskyWords: []string{"forbidden"}}, map[string]any{"content": "this is forbidden"}, "risky", "20006"},
		{"a default word no longer counts once words are configured", Config{RiskyWords: []string{"forbidden"}}, map[string]any{"content": "违规"}, "pass", "100"},
		{"an empty list makes nothing risky or reviewed", Config{RiskyWords: []string{}, ReviewWords: []string{}}, map[string]any{"content": "risky review"}, "pass", "100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, tt.cfg)
			tok := mustToken(t, stableToken(t, s, false))
			body := map[string]any{"version": 2, "scene": 2, "openid": s.OpenID("alice")}
			for k, v := range tt.body {
				body[k] = v
			}
			a := call(t, s, jsonRequest(http.MethodPost, withToken(PathMsgSecCheck, tok), body))
			if a.errcode() != 0 || a.str("errmsg") != "ok" {
				t.Fatalf("answer %v, want errcode 0 errmsg ok", a.body)
			}
			result, _ := a.body["result"].(map[string]any)
			if result["suggest"] != tt.wantSuggest || result["label"] != json.Number(tt.wantLabel) {
				t.Errorf("result = %v, want suggest %q label %s (a number)", result, tt.wantSuggest, tt.wantLabel)
			}
			detail, _ := a.body["detail"].([]any)
			if len(detail) != 2 {
				t.Fatalf("detail = %v, want the content_model and keyword strategies", a.body["detail"])
			}
			model, _ := detail[0].(map[string]any)
			if model["strategy"] != "content_model" || model["suggest"] != tt.wantSuggest || model["errcode"] != json.Number("0") {
				t.Errorf("detail[0] = %v", model)
			}
			if kw, _ := detail[1].(map[string]any); kw["strategy"] != "keyword" {
				t.Errorf("detail[1] = %v", kw)
			}
			if !regexp.MustCompile("^" + ridPattern + "$").MatchString(a.str("trace_id")) {
				t.Errorf("trace_id = %q, want a WeChat-shaped id", a.str("trace_id"))
			}
		})
	}
}

func TestMsgSecCheckAnswersEachDocumentedError(t *testing.T) {
	s := newTwoAppServer(t)
	tok := appToken(t, s, testAppID)
	alice := s.OpenID("alice")
	good := func(change map[string]any) map[string]any {
		b := map[string]any{"content": "hello", "version": 2, "scene": 1, "openid": alice}
		for k, v := range change {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	tests := []struct {
		name   string
		method string
		body   any
		want   int
	}{
		{"GET instead of POST answers the docs' 43302", http.MethodGet, nil, errSecCheckMethod},
		{"an empty body", http.MethodPost, "", errEmptyPostData},
		{"a body that is not JSON", http.MethodPost, "content=hello", errDataFormat},
		{"access_token in the body as well", http.MethodPost, good(map[string]any{"access_token": tok}), errDataFormat},
		{"content of the wrong type", http.MethodPost, good(map[string]any{"content": 5}), errDataFormat},
		{"scene missing", http.MethodPost, good(map[string]any{"scene": nil}), errInvalidScene},
		{"scene 5", http.MethodPost, good(map[string]any{"scene": 5}), errInvalidScene},
		{"scene 0", http.MethodPost, good(map[string]any{"scene": 0}), errInvalidScene},
		{"openid missing", http.MethodPost, good(map[string]any{"openid": nil}), errInvalidOpenID},
		{"an openid no app knows", http.MethodPost, good(map[string]any{"openid": openID(testAppID, "stranger")}), errInvalidOpenID},
		{"an openid of the other app", http.MethodPost, good(map[string]any{"openid": s.App(otherAppID).OpenID("alice")}), errOpenIDOfOtherApp},
		{"content missing", http.MethodPost, good(map[string]any{"content": nil}), errEmptyPostData},
		{"content empty", http.MethodPost, good(map[string]any{"content": ""}), errEmptyPostData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s, jsonRequest(tt.method, withToken(PathMsgSecCheck, tok), tt.body))
			if a.errcode() != tt.want {
				t.Errorf("answer %v, want errcode %d", a.body, tt.want)
			}
		})
	}
}

func TestMsgSecCheckAcceptsVersionAndSceneAsNumbersOrStrings(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	a := call(t, s, jsonRequest(http.MethodPost, withToken(PathMsgSecCheck, tok),
		map[string]any{"content": "hello", "version": "2", "scene": "3", "openid": s.OpenID("alice")}))
	if a.errcode() != 0 || a.body["result"] == nil {
		t.Errorf("answer %v, want a version 2 verdict", a.body)
	}
}

func TestMsgSecCheckWithoutVersion2GivesVersion1sAnswer(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	tok := mustToken(t, stableToken(t, s, false))
	tests := []struct {
		name string
		body map[string]any
		want int
	}{
		{"ordinary content is ok", map[string]any{"content": "hello world!"}, 0},
		{"WeChat's documented test text answers 87014", map[string]any{"content": "完2347全dfji试3726测asad感3847知qwez到"}, errRiskyContent},
		{"version 1 needs no openid", map[string]any{"content": "违规", "version": 1}, errRiskyContent},
		{"review is not a version 1 verdict", map[string]any{"content": "review"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, s, jsonRequest(http.MethodPost, withToken(PathMsgSecCheck, tok), tt.body))
			if a.errcode() != tt.want || a.body["result"] != nil {
				t.Errorf("answer %v, want errcode %d and no version 2 result", a.body, tt.want)
			}
			if tt.want == 0 && a.str("errmsg") != "ok" {
				t.Errorf("errmsg = %q, want ok", a.str("errmsg"))
			}
		})
	}
}
