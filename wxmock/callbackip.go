package wxmock

import (
	"net/http"
	"slices"
)

// callbackIPs is what getcallbackip answers: addresses and a range from
// WeChat's own example answer ({"ip_list":["127.0.0.1","127.0.0.2",
// "101.226.103.0/25"]}, 获取微信服务器IP地址) and a captured one
// (ArtisanCloud/PowerWeChat, its GetCallbackIP comment: "101.226.62.77", …),
// without the example's loopback addresses.
var callbackIPs = []string{"101.226.62.77", "101.226.62.78", "101.226.103.0/25"}

// CallbackIPs returns the ip_list getcallbackip answers: WeChat server
// addresses and ranges, the same for every app.
func CallbackIPs() []string { return slices.Clone(callbackIPs) }

type callbackIPResponse struct {
	IPList []string `json:"ip_list"`
}

// getCallbackIP is GET /cgi-bin/getcallbackip (getCallbackIp):
// {"ip_list":[…]}, the shape of WeChat's example; only the access_token is
// checked, and any method is served.
func (s *Server) getCallbackIP(r *http.Request) any {
	if _, errcode := s.checkAccessToken(r.URL.Query().Get("access_token")); errcode != 0 {
		return wxError(errcode)
	}
	return callbackIPResponse{IPList: CallbackIPs()}
}
