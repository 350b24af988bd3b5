"""Sends a subscribe message (订阅消息) to a user through Caddy's wxapi.

The path is WeChat's, the host is wxapi's, and there is no access_token and
no AppSecret anywhere in this backend. WXAPI_URL is the wxapi site (default
http://127.0.0.1:8094, the example Caddyfile's).
"""
import json
import os
import urllib.request

WXAPI_URL = os.environ.get("WXAPI_URL", "http://127.0.0.1:8094")
# The template's ID from the mini program's admin console (订阅消息).
TEMPLATE_ID = os.environ.get("WX_TEMPLATE_ID", "order-shipped-template")


def send_subscribe_message(openid, text):
    """Returns WeChat's answer, {"errcode":0,"errmsg":"ok","msgid":…}."""
    body = json.dumps({
        "touser": openid,
        "template_id": TEMPLATE_ID,
        "page": "pages/index/index",
        "data": {"thing1": {"value": text}},
    }).encode()
    req = urllib.request.Request(WXAPI_URL + "/cgi-bin/message/subscribe/send", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = json.load(resp)
    if answer.get("errcode") != 0:
        raise RuntimeError("subscribe/send: %s" % json.dumps(answer))
    return answer
