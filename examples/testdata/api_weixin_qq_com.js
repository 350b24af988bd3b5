// For the tests only: `node -r testdata/api_weixin_qq_com.js server.js`.
//
// In compose.yaml the name api.weixin.qq.com leads the backend's container
// to Caddy (extra_hosts), where wxapi listens on port 80. Tests have no
// containers and do not take port 80, so this preload stands in for that
// mapping and nothing more: a connection to api.weixin.qq.com:80 goes to
// $API_WEIXIN_QQ_COM (host:port of the Caddyfile's wxapi site) instead. The
// request itself, its Host header included, stays as server.js wrote it, and
// server.js runs unmodified. Both of Node's HTTP clients are covered: fetch
// (undici, which dials with net.connect) and http.request (http.Agent).
'use strict';
const net = require('node:net');
const http = require('node:http');

const target = process.env.API_WEIXIN_QQ_COM;
if (!target || !/^[^:]+:\d+$/.test(target)) {
  throw new Error('api_weixin_qq_com.js: set API_WEIXIN_QQ_COM to host:port of the wxapi listener');
}
const [host, port] = target.split(':');

function mapped(options) {
  if (options === null || typeof options !== 'object') return options;
  const name = options.host ?? options.hostname;
  if (name !== 'api.weixin.qq.com' || Number(options.port ?? 80) !== 80) return options;
  return { ...options, host, hostname: host, port: Number(port) };
}

const connect = net.connect;
net.connect = net.createConnection = function (options, ...rest) {
  return connect.call(this, mapped(options), ...rest);
};
const createConnection = http.Agent.prototype.createConnection;
http.Agent.prototype.createConnection = function (options, ...rest) {
  return createConnection.call(this, mapped(options), ...rest);
};
