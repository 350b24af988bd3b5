// A backend written for WeChat Cloud Run (微信云托管), the way its Node
// templates are: the caller's openid is in the x-wx-openid header, which
// Cloud Run's gateway sets, and WeChat's server APIs are called at
// http://api.weixin.qq.com with no access_token (Cloud Run's 开放接口服务).
// Behind Caddy it runs as it is: wxauth with `headers cloudrun` sets the
// same headers, and Caddy's wxapi answers http://api.weixin.qq.com with the
// deployment's access_token put in. See README.md.
//
// Run: node server.js (PORT, default 80 as on Cloud Run; HOST, default every
// interface, as in a container).
const http = require('node:http');

// POST /api/check {"content":"…"}: may the caller post this text? WeChat's
// msgSecCheck 2.0 judges it for this user (scene 2: a comment).
async function check(req, res) {
  const openid = req.headers['x-wx-openid']; // Node lowercases header names
  const appid = req.headers['x-wx-appid'];
  if (!openid) {
    return send(res, 401, { error: 'no x-wx-openid: not called through the gateway' });
  }
  let content;
  try {
    ({ content } = JSON.parse(await readBody(req)));
  } catch {
    return send(res, 400, { error: 'want a JSON body {"content":"…"}' });
  }
  if (typeof content !== 'string' || content === '') {
    return send(res, 400, { error: 'want a JSON body {"content":"…"}' });
  }
  let answer;
  try {
    const r = await fetch('http://api.weixin.qq.com/wxa/msg_sec_check', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ content, version: 2, scene: 2, openid }),
    });
    answer = await r.json();
  } catch (err) {
    return send(res, 502, { error: 'calling msg_sec_check: ' + err.message });
  }
  if (answer.errcode !== 0) {
    return send(res, 502, { errcode: answer.errcode, errmsg: answer.errmsg });
  }
  const { suggest, label } = answer.result;
  send(res, 200, { openid, appid, pass: suggest === 'pass', suggest, label });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    let tooLarge = false;
    req.on('data', (chunk) => {
      tooLarge ||= body.length + chunk.length > 64 << 10;
      if (!tooLarge) body += chunk;
    });
    req.on('end', () => (tooLarge ? reject(new Error('body too large')) : resolve(body)));
    req.on('error', reject);
  });
}

function send(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (req.method === 'POST' && path === '/api/check') {
    check(req, res).catch((err) => send(res, 500, { error: err.message }));
    return;
  }
  send(res, 404, { error: 'not found' });
}).listen(Number(process.env.PORT || 80), process.env.HOST);
