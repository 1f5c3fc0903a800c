"""The Flask interface: thin routes that parse, call the engine and render.

``create_app`` reads FPIC_DATABASE_URL and FPIC_SECRET_KEY from the environment; in production
(FPIC_ENV=production, the default under gunicorn) a missing secret key stops start-up.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask

from fpic.storage.db import Database
from fpic.workflow.clock import SystemClock
from fpic.workflow.engine import Engine


class ConfigurationError(RuntimeError):
    """The app cannot start safely with this configuration."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        FPIC_ENV=os.environ.get("FPIC_ENV", "development"),
        DATABASE_URL=os.environ.get("FPIC_DATABASE_URL"),
        SECRET_KEY=os.environ.get("FPIC_SECRET_KEY"),
        FPIC_CLOCK=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the session's own time-outs bound a form's life
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        BABEL_DEFAULT_LOCALE="en",
        BABEL_DEFAULT_TIMEZONE="UTC",
        # the largest evidence file kept; None: FPIC_MAX_FILE_SIZE, else 250 MB
        FPIC_MAX_FILE_SIZE=None,
        # the site's WebAuthn relying party (its domain) and origin, for the representatives'
        # passkeys; None: the request's own host (set both behind a proxy)
        FPIC_WEBAUTHN_RP_ID=os.environ.get("FPIC_WEBAUTHN_RP_ID"),
        FPIC_WEBAUTHN_ORIGIN=os.environ.get("FPIC_WEBAUTHN_ORIGIN"),
    )
    if config:
        app.config.update(config)
    _check_secret(app)
    database = Database(app.config["DATABASE_URL"])
    app.extensions["fpic"] = Engine(database, app.config["FPIC_CLOCK"] or SystemClock())

    from web import auth, errors, i18n, refusals, security
    from web.context import DatabaseId, may, page_url
    from web.extensions import csrf, login_manager

    # before any blueprint adds its rules: the converter is bound when a rule is added
    app.url_map.converters["int"] = DatabaseId
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["may"] = may

    refusals.init_app(app)  # first: the origin must be known when CSRF refuses a request
    security.allow_uploads(app)  # before CSRF reads the form
    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    auth.init_app(app)

    from web.account import bp as account_bp
    from web.admin import bp as admin_bp
    from web.api import bp as api_bp
    from web.audit import bp as audit_bp
    from web.cases import bp as cases_bp
    from web.communities import bp as communities_bp
    from web.log import bp as log_bp
    from web.log import cosignature
    from web.main import bp as main_bp
    from web.passkeys import bp as passkeys_bp
    from web.places import bp as places_bp
    from web.registry import bp as registry_bp
    from web.search import bp as search_bp

    blueprints = (
        auth.bp, main_bp, cases_bp, communities_bp, places_bp, audit_bp, log_bp, admin_bp,
        account_bp, passkeys_bp, registry_bp, search_bp,
    )  # fmt: skip
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    # a token request carries its credential in a header no other site can make a browser
    # send, so there is nothing to forge; and it has no session to hold a CSRF token
    csrf.exempt(api_bp)
    # a witness posts a cosigned checkpoint from a program, with no session: its signature,
    # checked against the witnesses this log knows, is the credential
    csrf.exempt(cosignature)
    app.register_blueprint(api_bp)
    return app


def _check_secret(app: Flask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if app.config["FPIC_ENV"] == "production":
        raise ConfigurationError(
            "FPIC_SECRET_KEY is not set. In production fpic needs a long random secret key, "
            "e.g. FPIC_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
    # development and demo: a key that lives as long as the process
    app.config["SECRET_KEY"] = secrets.token_hex(32)
