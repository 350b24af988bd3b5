// A legacy Node backend behind Caddy + wxauth: it reads the verified identity
// from request headers and knows nothing of WeChat. Run: node server.js
// (PORT, default 3000; HOST, default 127.0.0.1 — 0.0.0.0 in a container;
// WXAPI_URL, the wxapi site, for POST /notify).
const http = require('node:http');
const { sendSubscribeMessage } = require('./subscribe');

http.createServer(async (req, res) => {
  res.setHeader('Content-Type', 'application/json');
  const path = new URL(req.url, 'http://x').pathname;
  const openid = req.headers['x-openid'] ?? null; // Node lowercases header names
  if (req.method === 'POST' && path === '/notify') {
    // Tell the caller, by subscribe message, that their order shipped.
    try {
      const wechat = await sendSubscribeMessage(openid, 'Order shipped');
      res.end('{"upstream":"node","wechat":' + wechat + '}');
    } catch (err) {
      res.statusCode = 502;
      res.end(JSON.stringify({ upstream: 'node', error: err.message }));
    }
    return;
  }
  res.end(JSON.stringify({
    upstream: 'node',
    path,
    openid,
    unionid: req.headers['x-unionid'] ?? null,
    phone: req.headers['x-phone'] ?? null,
  }));
}).listen(Number(process.env.PORT || 3000), process.env.HOST || '127.0.0.1');
