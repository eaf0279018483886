"""The web page's files: served by the gateway itself, open without an API key, under a
strict Content-Security-Policy, and referring to nothing outside the gateway."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from serving.gateway import create_app
from serving.gateway.settings import Settings
from serving.gateway.ui import ASSETS

KEY = "ui-unit-test-key-0123456789"


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts = 0
        self.ids: list[str] = []
        self.label_for: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key):
                self.refs.append(attrs[key])
        if tag == "script" and not attrs.get("src"):
            self._in_script = True
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "label":
            self.label_for.append(attrs.get("for"))
        if "style" in attrs or any(k.startswith("on") for k in attrs):
            raise AssertionError(f"inline style or handler on <{tag}>: blocked by the CSP")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def parse_index() -> _Refs:
    parser = _Refs()
    parser.feed((ASSETS / "index.html").read_text(encoding="utf-8"))
    return parser


def test_index_is_the_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "<title>modelserve" in response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "name, mimetype",
    [(n, "text/javascript") for n in ("dom.js", "report.js", "pad.js", "app.js")] + [("style.css", "text/css")],
)
def test_assets_are_served(client, name, mimetype):
    response = client.get(f"/ui/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.get_data() == (ASSETS / name).read_bytes()


def test_every_reference_of_the_page_is_served_by_the_gateway(client):
    page = parse_index()
    for ref in page.refs:
        assert not re.match(r"^[a-z]+://|^//", ref), f"{ref} is not served by the gateway"
        if ref.startswith("data:"):
            continue
        assert client.get("/" + ref).status_code == 200, ref
    assert page.inline_scripts == 0


def test_every_label_points_at_an_element():
    page = parse_index()
    assert set(page.label_for) <= set(page.ids)
    assert len(page.ids) == len(set(page.ids))


def test_scripts_use_only_relative_api_paths():
    script = "\n".join(p.read_text(encoding="utf-8") for p in sorted(ASSETS.glob("*.js")))
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", script)
    assert "innerHTML" not in script  # text goes in as text: API messages cannot inject markup
    for path in ("v1/models", "/metadata", ":predict", "/report"):
        assert path in script


def test_every_script_is_loaded_by_the_page():
    page = parse_index()
    assert {r.removeprefix("ui/") for r in page.refs if r.endswith(".js")} == {p.name for p in ASSETS.glob("*.js")}


def test_unknown_asset_is_a_json_404(client):
    response = client.get("/ui/nope.js")
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_page_is_open_when_api_keys_are_set(settings, backend):
    client = create_app(Settings(**{**settings.__dict__, "api_keys": (KEY,)}), backend).test_client()
    for path in ("/", "/ui/app.js", "/ui/style.css"):
        assert client.get(path).status_code == 200, path
    assert client.get("/v1/models/digits/metadata").status_code == 401
