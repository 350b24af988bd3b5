// pages/phone/phone.js — the getPhoneNumber button's handler.
//
// Do not call wx.login in here. The user is logged in already (app.js), and
// a wx.login now would replace the session_key on WeChat's side: the legacy
// encryptedData below was encrypted with the old one and would no longer
// decrypt. The new `code` needs no session_key at all; Caddy redeems it with
// WeChat (getuserphonenumber) and binds the phone to the logged-in openid.

const { request } = require('../../utils/request');

Page({
  data: { phone: '' },

  onGetPhoneNumber(e) {
    const detail = e.detail || {};
    if (detail.errMsg !== 'getPhoneNumber:ok') {
      // "getPhoneNumber:fail user deny", or no permission for this AppID.
      wx.showToast({ title: '未获得手机号授权', icon: 'none' });
      return Promise.resolve();
    }
    let body;
    let relogin = true;
    if (detail.code) {
      // Base library 2.21.2 and later: a one-time code, valid 5 minutes.
      body = { code: detail.code };
    } else if (detail.encryptedData && detail.iv) {
      // Older base libraries: data encrypted with the session_key of the
      // login that issued our token. If that token is refused, logging in
      // again would change the key, so ask the user to tap again instead.
      body = { encrypted_data: detail.encryptedData, iv: detail.iv };
      relogin = false;
    } else {
      wx.showToast({ title: '请升级微信后重试', icon: 'none' });
      return Promise.resolve();
    }
    return request({ url: '/wx/phone', method: 'POST', data: body, relogin }).then(
      (res) => {
        if (res.statusCode !== 200) {
          // 401 invalid_code (used or expired code), 400 decrypt_failed, …
          wx.showToast({ title: '绑定失败，请重试', icon: 'none' });
          return;
        }
        getApp().globalData.hasPhone = true;
        this.setData({ phone: res.data.phone_number });
      },
      () => wx.showToast({ title: '网络错误', icon: 'none' }),
    );
  },
});
