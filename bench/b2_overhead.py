"""B2, in process: a web action's own cost (everything but the engine call) against the engine's.

The real app is called as its WSGI server calls it, without a network or a server process in
between, by one signed-in representative who suspends and resumes one case again and again,
as the action form posts it. Each request is timed whole, and the engine's ``advance`` inside
it on its own; the rest is what the web adds: the session, CSRF, the user lookup, reading the
submission, the redirect and its flash message. Both sides come from the same requests, so a
machine that gets busier changes both alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from werkzeug.test import EnvironBuilder

from bench.client import NOTE, PASSWORD, csrf_token
from bench.common import Figure, ratio_figure
from bench.web_load import Target
from fpic.workflow.engine import Engine
from web import create_app

TARGET = 0.5


class _Timed:
    """The app's engine with ``advance`` timed, each call's seconds added up."""

    def __init__(self, engine: Engine) -> None:
        self.seconds = 0.0
        advance = engine.advance

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return advance(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        engine.advance = timed  # type: ignore[method-assign]


def run(url: str, target: Target, quick: bool) -> Figure:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-secret-key"})
    timed = _Timed(app.extensions["fpic"])
    post = _signed_in_poster(app, target)
    actions = 100 if quick else 1_500
    version = target.version
    for _ in range(20):  # warm: the first requests compile templates and statements
        post(version)
        version += 1
    timed.seconds, total = 0.0, 0.0
    for _ in range(actions):
        total += post(version)
        version += 1
    engine_ms, web_ms = timed.seconds / actions * 1000, (total - timed.seconds) / actions * 1000
    return ratio_figure(
        "web action overhead in process (ms/action)",
        web_ms,
        engine_ms,
        "ms",
        maximum=TARGET,
        baseline_is="the engine's advance in the same requests (ms/action)",
        actions=actions,
        request_ms=round(total / actions * 1000, 3),
    )


def _signed_in_poster(app: Any, target: Target) -> Callable[[int], float]:
    """A function that posts the case's next action at a version, as the form does, and
    returns the seconds the app took (the request is built before the clock starts)."""
    client = app.test_client()
    page = client.get("/login").text
    signed = client.post(
        "/login",
        data={"username": target.username, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    if signed.status_code != 302:
        raise RuntimeError(f"sign-in as {target.username} answered {signed.status_code}")
    form = client.get(f"/cases/{target.case_id}/actions/suspend_process").text
    token = csrf_token(form)
    cookie = client.get_cookie("session")
    assert cookie is not None
    # the cookie of the form page is kept, as a browser would send it after showing the form
    headers = {"Cookie": f"session={cookie.value}"}
    base = target.version - (target.version - target.base_version) % 2

    def post(version: int) -> float:
        trigger = "suspend_process" if (version - base) % 2 == 0 else "resume_process"
        environ = EnvironBuilder(
            path=f"/cases/{target.case_id}/actions/{trigger}",
            method="POST",
            headers=headers,
            data={"csrf_token": token, "version": str(version), "text": NOTE, "language": ""},
        ).get_environ()
        statuses: list[str] = []
        started = time.perf_counter()
        body = b"".join(app.wsgi_app(environ, lambda status, *_: statuses.append(status)))
        seconds = time.perf_counter() - started
        if not statuses[0].startswith("302"):
            raise RuntimeError(f"the action answered {statuses[0]}: {body[:300]!r}")
        return seconds

    return post
