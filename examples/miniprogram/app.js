// app.js — logs in when the mini program starts and whenever the API says the
// token is no good any more (utils/request.js calls app.login() on a 401).
// The server side is Caddy with wxauth: it trades the wx.login code for a
// token and never shows the mini program a session_key.

const TOKEN_KEY = 'wxauth_token';

App({
  globalData: {
    // Your Caddy site running wxauth. Add it to the mini program's
    // request domain whitelist (request 合法域名) in the WeChat console.
    apiBase: 'https://api.example.com',
    token: '',
    openid: '',
    hasPhone: false,
  },

  onLaunch() {
    // A token from an earlier launch is tried first; if it has expired, the
    // first request gets a 401 and request() logs in again.
    this.globalData.token = wx.getStorageSync(TOKEN_KEY) || '';
    if (!this.globalData.token) {
      this.login().catch((err) => console.error('wxauth login failed', err));
    }
  },

  // login runs wx.login and posts the code to /wx/login; it resolves with the
  // token. Callers that arrive while a login is under way share it, so a burst
  // of 401s logs in once (each wx.login also replaces the session_key).
  login() {
    if (this.loggingIn) {
      return this.loggingIn;
    }
    this.loggingIn = new Promise((resolve, reject) => {
      wx.login({
        success: ({ code }) => {
          wx.request({
            url: this.globalData.apiBase + '/wx/login',
            method: 'POST',
            data: { code },
            success: (res) => {
              if (res.statusCode !== 200) {
                // invalid_code, user_blocked, rate_limited, upstream_error, …
                reject(new Error('login: ' + res.statusCode + ' ' + (res.data && res.data.error)));
                return;
              }
              const { token, openid, has_phone: hasPhone } = res.data;
              Object.assign(this.globalData, { token, openid, hasPhone });
              wx.setStorageSync(TOKEN_KEY, token);
              resolve(token);
            },
            fail: reject,
          });
        },
        fail: reject,
      });
    });
    const done = () => { this.loggingIn = null; };
    this.loggingIn.then(done, done);
    return this.loggingIn;
  },
});
