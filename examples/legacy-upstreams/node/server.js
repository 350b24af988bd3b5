// A legacy Node backend behind Caddy + wxauth: it reads the verified identity
// from request headers and knows nothing of WeChat. Run: node server.js
// (PORT, default 3000; HOST, default 127.0.0.1 — 0.0.0.0 in a container).
const http = require('node:http');

http.createServer((req, res) => {
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({
    upstream: 'node',
    path: new URL(req.url, 'http://x').pathname,
    openid: req.headers['x-openid'] ?? null, // Node lowercases header names
    unionid: req.headers['x-unionid'] ?? null,
    phone: req.headers['x-phone'] ?? null,
  }));
}).listen(Number(process.env.PORT || 3000), process.env.HOST || '127.0.0.1');
