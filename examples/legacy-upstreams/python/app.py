"""A legacy Python (WSGI) backend behind Caddy + wxauth.

Caddy has verified the user; WSGI shows the identity headers as
environ['HTTP_X_OPENID'] and so on (Django: request.META, Flask:
request.headers['X-OpenID']). Run: python3 app.py [port], or any WSGI server
(gunicorn app:app). HOST defaults to 127.0.0.1.
"""
import json
import os
import sys
from wsgiref.simple_server import make_server


def app(environ, start_response):
    body = json.dumps({
        "upstream": "python",
        "path": environ.get("PATH_INFO", "/"),
        "openid": environ.get("HTTP_X_OPENID"),
        "unionid": environ.get("HTTP_X_UNIONID"),
        "phone": environ.get("HTTP_X_PHONE"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    make_server(os.environ.get("HOST", "127.0.0.1"), port, app).serve_forever()
