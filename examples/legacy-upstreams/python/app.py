"""A legacy Python (WSGI) backend behind Caddy + wxauth.

Caddy has verified the user; WSGI shows the identity headers as
environ['HTTP_X_OPENID'] and so on (Django: request.META, Flask:
request.headers['X-OpenID']). Run: python3 app.py [port], or any WSGI server
(gunicorn app:app). HOST defaults to 127.0.0.1; WXAPI_URL is the wxapi site,
for POST /notify.
"""
import json
import os
import sys
from wsgiref.simple_server import make_server

from subscribe import send_subscribe_message


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    status = "200 OK"
    if environ.get("REQUEST_METHOD") == "POST" and path == "/notify":
        # Tell the caller, by subscribe message, that their order shipped.
        try:
            answer = {"upstream": "python", "wechat": send_subscribe_message(environ.get("HTTP_X_OPENID"), "Order shipped")}
        except Exception as err:  # WeChat's refusal or wxapi unreachable
            status, answer = "502 Bad Gateway", {"upstream": "python", "error": str(err)}
    else:
        answer = {
            "upstream": "python",
            "path": path,
            "openid": environ.get("HTTP_X_OPENID"),
            "unionid": environ.get("HTTP_X_UNIONID"),
            "phone": environ.get("HTTP_X_PHONE"),
        }
    body = json.dumps(answer).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    make_server(os.environ.get("HOST", "127.0.0.1"), port, app).serve_forever()
