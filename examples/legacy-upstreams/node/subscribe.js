// Sends a subscribe message (订阅消息) to a user through Caddy's wxapi: the
// path is WeChat's, the host is wxapi's, and there is no access_token and no
// AppSecret anywhere in this backend. WXAPI_URL is the wxapi site (default
// http://127.0.0.1:8094, the example Caddyfile's).
const WXAPI_URL = process.env.WXAPI_URL || 'http://127.0.0.1:8094';
// The template's ID from the mini program's admin console (订阅消息).
const TEMPLATE_ID = process.env.WX_TEMPLATE_ID || 'order-shipped-template';

// Returns WeChat's answer as JSON text: its msgid is a 64-bit number, more
// than a JavaScript number holds exactly, so it is passed on unparsed.
async function sendSubscribeMessage(openid, text) {
  const res = await fetch(WXAPI_URL + '/cgi-bin/message/subscribe/send', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      touser: openid,
      template_id: TEMPLATE_ID,
      page: 'pages/index/index',
      data: { thing1: { value: text } },
    }),
  });
  const answer = (await res.text()).trim();
  if (JSON.parse(answer).errcode !== 0) {
    throw new Error('subscribe/send: ' + answer);
  }
  return answer;
}

module.exports = { sendSubscribeMessage };
