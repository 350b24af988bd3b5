// Runs examples/miniprogram against a real Caddy with wxauth, with the global
// `wx`, App, Page and getApp stubbed and wx.request done over HTTP (fetch).
// examples_test.go starts Caddy and the fake WeChat and runs:
//
//   node miniprogram_harness.js <miniprogram dir>
//
// with API_BASE (the Caddy site) and WECHAT (wxmock, whose /mock/ endpoints
// play the phone) in the environment. Prints "ok …" per check, then PASS; any
// failure prints FAIL and exits 1.
'use strict';
const assert = require('node:assert/strict');
const path = require('node:path');

const dir = path.resolve(process.argv[2]);
const { API_BASE, WECHAT } = process.env;
const USER = 'harness-user';

const mock = (p) => fetch(WECHAT + p).then((r) => r.json());

// --- the stubbed mini program runtime ---------------------------------------
const log = { logins: 0, requests: [] };
const storage = new Map();
global.wx = {
  login({ success, fail }) {
    log.logins++;
    mock('/mock/code?user=' + USER).then(({ code }) => success({ code, errMsg: 'login:ok' }), fail);
  },
  request({ url, method = 'GET', data, header = {}, success, fail }) {
    const body = data === undefined || method === 'GET' ? undefined : JSON.stringify(data);
    log.requests.push({ path: new URL(url).pathname, method, body, auth: header.Authorization });
    fetch(url, { method, body, headers: { 'Content-Type': 'application/json', ...header } })
      .then(async (r) => {
        const text = await r.text();
        let parsed = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON: keep the text, as wx does */ }
        success({ statusCode: r.status, data: parsed, header: Object.fromEntries(r.headers) });
      }, (err) => fail({ errMsg: 'request:fail ' + err.message }));
  },
  getStorageSync: (k) => (storage.has(k) ? storage.get(k) : ''),
  setStorageSync: (k, v) => storage.set(k, v),
  showToast: () => {},
};
let app;
let pageDef;
global.App = (def) => { app = def; };
global.getApp = () => app;
global.Page = (def) => { pageDef = def; };

require(path.join(dir, 'app.js'));
app.globalData.apiBase = API_BASE;
require(path.join(dir, 'pages/phone/phone.js'));
const { request } = require(path.join(dir, 'utils/request.js'));
const page = Object.assign(Object.create(pageDef), {
  data: { ...pageDef.data },
  setData(d) { Object.assign(this.data, d); },
});
const requestsTo = (p) => log.requests.filter((r) => r.path === p);

const checks = [
  ['onLaunch logs in once and stores the token; requests carry it', async () => {
    app.onLaunch();
    const res = await request({ url: '/api/me' }); // shares the login under way
    assert.equal(log.logins, 1);
    assert.ok(storage.get('wxauth_token'), 'no token in storage');
    assert.equal(res.statusCode, 200);
    assert.equal(res.data.openid, app.globalData.openid);
    assert.equal(requestsTo('/api/me')[0].auth, 'Bearer ' + storage.get('wxauth_token'));
  }],
  ['a 401 makes request() log in exactly once and retry once', async () => {
    const old = app.globalData.token;
    const out = await fetch(API_BASE + '/wx/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + old } });
    assert.equal(out.status, 204);
    const before = { logins: log.logins, me: requestsTo('/api/me').length };
    const res = await request({ url: '/api/me' });
    assert.equal(res.statusCode, 200);
    assert.equal(log.logins, before.logins + 1);
    assert.equal(requestsTo('/api/me').length, before.me + 2); // the 401, then the retry
    assert.notEqual(app.globalData.token, old);
    assert.equal(storage.get('wxauth_token'), app.globalData.token);
  }],
  ['getPhoneNumber posts e.detail.code and never calls wx.login', async () => {
    const { code } = await mock(`/mock/phonecode?user=${USER}&phone=13800138000`);
    const logins = log.logins;
    await page.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:ok', code } });
    assert.equal(log.logins, logins);
    const sent = requestsTo('/wx/phone').at(-1);
    assert.deepEqual(JSON.parse(sent.body), { code });
    assert.equal(page.data.phone, '13800138000');
    const me = await request({ url: '/api/me' });
    assert.equal(me.data.phone, '13800138000');
  }],
  ['old base libraries: getPhoneNumber falls back to encryptedData and iv', async () => {
    const enc = await mock(`/mock/encrypted_phone?user=${USER}&phone=13900139000`);
    page.setData({ phone: '' });
    const logins = log.logins;
    await page.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:ok', encryptedData: enc.encryptedData, iv: enc.iv } });
    assert.equal(log.logins, logins);
    assert.deepEqual(JSON.parse(requestsTo('/wx/phone').at(-1).body), { encrypted_data: enc.encryptedData, iv: enc.iv });
    assert.equal(page.data.phone, '13900139000');
  }],
  ['a user who declines sends nothing', async () => {
    const n = log.requests.length;
    await page.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:fail user deny' } });
    assert.equal(log.requests.length, n);
  }],
];

(async () => {
  for (const [name, fn] of checks) {
    try {
      await fn();
      console.log('ok  ', name);
    } catch (err) {
      console.log('FAIL', name);
      console.log(err.stack || err);
      process.exit(1);
    }
  }
  console.log('PASS');
})();
