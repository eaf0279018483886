"""The web page at `GET /`: try a served model and see how its version was trained.

Static files (`ui_assets/`: index.html, style.css and four plain scripts), served by
the gateway itself: no CDN, no framework, no build step. The page calls only the public API any
client calls (`/v1/models`, `/v1/models/<name>/metadata`, `:predict`, `.../report`), so
it needs an API key exactly when they do (it asks for one on a 401); the files themselves
are open. A strict Content-Security-Policy allows nothing but these files.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

ASSETS = Path(__file__).parent / "ui_assets"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

bp = Blueprint("ui", __name__, static_folder=str(ASSETS), static_url_path="/ui")


@bp.get("/")
def index() -> Response:
    """The page; `?model=<name>` chooses the model (default: the first of `/v1/models`)."""
    response = bp.send_static_file("index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.after_request
def _harden(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
