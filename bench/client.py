"""A benchmark client: one process, one keep-alive connection, signed in like a person.

Kept to the standard library so that a spawned client starts fast. It keeps the session
cookie from the action form page and ignores later ones: a browser would follow each redirect
and show the flash message that the new cookie carries; this client does not follow redirects,
so its cookie stays the size it was.
"""

from __future__ import annotations

import http.client
import re
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
VERSION = re.compile(r'name="version" type="hidden" value="(\d+)"')
NOTE = "The assembly paused the process for the planting season; it resumes after."
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Job:
    port: int
    mode: str  #: "ping" (the trivial route) or "act" (suspend and resume a case)
    start_at: float  #: time.time() at which every client starts together
    seconds: float
    username: str = ""
    case_id: int = 0
    base_version: int = 0  #: a version at which the case stood unsuspended


@dataclass
class Tally:
    done: int = 0  #: 302 after an action, 200 from the trivial route
    stale: int = 0  #: 409: the case changed since the version sent
    refused: int = 0  #: any other 4xx
    server_errors: int = 0
    connection_errors: int = 0
    #: 409 pages that still showed the version that was sent (so the person must reload)
    stale_page_not_fresh: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Browser:
    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        self.frozen = False  #: set once the form page's cookie is kept

    def send(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise
        self._remember(response.getheader("Set-Cookie"))
        return response.status, text

    def _remember(self, header: str | None) -> None:
        if header and header.startswith("session=") and not self.frozen:
            self.cookie = header.split(";", 1)[0]


def csrf_token(page: str) -> str:
    match = CSRF.search(page)
    if not match:
        raise RuntimeError("the page has no CSRF token")
    return match.group(1) or match.group(2)


def _version(page: str) -> int | None:
    match = VERSION.search(page)
    return int(match.group(1)) if match else None


def sign_in(browser: Browser, username: str) -> None:
    _, page = browser.send("GET", "/login")
    status, _ = browser.send(
        "POST",
        "/login",
        {"username": username, "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    if status != 302:
        raise RuntimeError(f"sign-in as {username} answered {status}")


def run_job(job: Job) -> dict[str, Any]:
    browser = Browser(job.port)
    tally = Tally()
    if job.mode == "ping":
        browser.conn.close()
        _wait(job.start_at)
        _ping(browser, tally, job.start_at + job.seconds)
    else:
        sign_in(browser, job.username)
        token, version = _form(browser, job, "suspend_process")
        browser.frozen = True
        browser.conn.close()  # the server drops idle connections after 2 s; start afresh
        _wait(job.start_at)
        _act(browser, tally, job, token, version)
    return tally.as_dict()


def _wait(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def _ping(browser: Browser, tally: Tally, deadline: float) -> None:
    while time.time() < deadline:
        try:
            status, _ = browser.send("GET", "/bench/ping")
        except (http.client.HTTPException, OSError):
            tally.connection_errors += 1
            continue
        _count(tally, status, 200)


def _form(browser: Browser, job: Job, trigger: str) -> tuple[str, int]:
    status, page = browser.send("GET", f"/cases/{job.case_id}/actions/{trigger}")
    version = _version(page)
    if status != 200 or version is None:
        raise RuntimeError(f"the form of case {job.case_id} answered {status}")
    return csrf_token(page), version


def _act(browser: Browser, tally: Tally, job: Job, token: str, version: int) -> None:
    deadline = job.start_at + job.seconds
    while time.time() < deadline:
        unsuspended = (version - job.base_version) % 2 == 0
        trigger = "suspend_process" if unsuspended else "resume_process"
        form = {"csrf_token": token, "version": str(version), "text": NOTE, "language": ""}
        try:
            status, page = browser.send("POST", f"/cases/{job.case_id}/actions/{trigger}", form)
        except (http.client.HTTPException, OSError):
            tally.connection_errors += 1
            _, version = _form(browser, job, trigger)
            continue
        seen = _version(page)
        if status == 302:
            tally.done += 1
            version += 1
        elif status == 409:
            tally.stale += 1
            if seen is None or seen == version:
                # the page did not show a newer version: reload the form, as a person would
                tally.stale_page_not_fresh += 1
                _, version = _form(browser, job, trigger)
            else:
                version = seen
        else:
            _count(tally, status, 302)
            _, version = _form(browser, job, trigger)


def _count(tally: Tally, status: int, ok: int) -> None:
    if status == ok:
        tally.done += 1
    elif status >= 500:
        tally.server_errors += 1
    else:
        tally.refused += 1
