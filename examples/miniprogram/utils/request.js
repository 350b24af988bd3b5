// utils/request.js — wx.request for the API behind wxauth.
//
//   const { request } = require('../../utils/request');
//   const res = await request({ url: '/api/orders', method: 'GET' });
//   res.statusCode, res.data   // as wx.request's success callback gives them
//
// It prefixes url with app.globalData.apiBase, sends the token as
// `Authorization: Bearer …` (logging in first if there is none yet) and, when
// the answer is 401 (token expired, logged out, revoked), logs in again ONCE
// and retries ONCE. A second 401 goes back to the caller: no loops.
// Other statuses are the caller's business (403 phone_required, 429, …).

function send(app, options) {
  return new Promise((resolve, reject) => {
    wx.request({
      ...options,
      url: app.globalData.apiBase + options.url,
      header: { ...(options.header || {}), Authorization: 'Bearer ' + app.globalData.token },
      success: resolve,
      fail: reject, // network failure: no HTTP answer at all
    });
  });
}

// request sends options (wx.request's, url relative to apiBase). Set
// relogin: false where a new wx.login would spoil the request itself (the
// legacy encryptedData of getPhoneNumber, see pages/phone/phone.js).
function request({ relogin = true, ...options }) {
  const app = getApp();
  const ready = app.globalData.token ? Promise.resolve() : app.login();
  return ready
    .then(() => send(app, options))
    .then((res) => {
      if (res.statusCode !== 401 || !relogin) {
        return res;
      }
      return app.login().then(() => send(app, options));
    });
}

module.exports = { request };
