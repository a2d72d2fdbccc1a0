"""The OpenAPI schema and the docs page are served, every asset from PEMS itself (no CDN)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") if tag == "script" else found.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


@pytest.fixture
def static_from_apps(settings):
    """Serve static files straight from the installed apps, as `pems serve` serves them."""
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True


def test_the_openapi_schema_lists_every_area(db):
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    for area in [
        "sites",
        "gateways",
        "meters",
        "points",
        "readings",
        "tenants",
        "accounts",
        "recharges",
        "refunds",
        "commands",
        "events",
    ]:
        assert f"/api/{area}" in paths, area
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    amount = schema["components"]["schemas"]["RechargeIn"]["properties"]["amount"]
    assert amount["type"] == "string"


def test_the_docs_page_loads_every_asset_locally(db, static_from_apps):
    client = Client()
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "http://" not in html
    assert "https://" not in html
    parser = _Assets()
    parser.feed(html)
    assert len(parser.urls) >= 3  # stylesheet, Swagger UI bundle, its start-up script
    for url in parser.urls:
        assert url.startswith("/static/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert body, url
