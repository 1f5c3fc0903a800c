"""WSGI entry point: ``gunicorn -w 4 'web.wsgi:app'`` (FPIC_ENV defaults to production here)."""

import os

os.environ.setdefault("FPIC_ENV", "production")

from web import create_app

app = create_app()
