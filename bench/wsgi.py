"""The fpic web app as gunicorn serves it, plus one trivial route: the baseline of B2.

``/bench/ping`` goes through the same server, workers, WSGI stack and response hooks (the
security headers) as every page, and does no more: no session, no database, no template.
"""

from __future__ import annotations

from flask import Response

from web import create_app

app = create_app()


@app.route("/bench/ping")
def ping() -> Response:
    return Response("ok", mimetype="text/plain")
