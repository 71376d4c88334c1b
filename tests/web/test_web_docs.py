"""The OpenAPI document (valid, every route of the table in it), the docs page with its own assets and no external
URL, and docs/web.md's routes table as routes.py makes it. `python -m tests.web.test_web_docs` rewrites the table."""

from __future__ import annotations

import re

import requests
from openapi_spec_validator import validate

from pixflow_web.openapi import document
from pixflow_web.routes import TABLE
from tests.helpers import REPO
from tests.web.conftest import Web

DOC = REPO / "docs" / "web.md"
EXTERNAL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def test_the_served_openapi_document_is_valid_and_has_every_route(web: Web) -> None:
    served = requests.get(web.url + "/v1/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/json")
    spec = served.json()
    validate(spec)
    assert spec == document()
    for route in TABLE:
        operation = spec["paths"][route.path][route.method.lower()]
        assert operation["x-pixflow-request"] == route.request and operation["x-pixflow-role"] == route.role
        assert bool(operation["security"]) == (route.role is not None)
    assert sum(len(methods) for methods in spec["paths"].values()) == len(TABLE)


def test_the_docs_page_and_its_assets_are_served_with_no_external_url(web: Web) -> None:
    page = requests.get(web.url + "/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/docs.css", "/static/docs.js"]
    for text in [page.text, *(requests.get(web.url + asset, timeout=10).text for asset in assets)]:
        assert not EXTERNAL.findall(text), EXTERNAL.findall(text)
    assert "/v1/openapi.json" in requests.get(web.url + "/static/docs.js", timeout=10).text


def routes_table() -> str:
    lines = ["| method | path | sends | least role | what |", "| --- | --- | --- | --- | --- |"]
    for route in TABLE:
        sends = f"`{route.request}`" if route.request else "(the web server)"
        lines.append(f"| {route.method} | `{route.path}` | {sends} | {route.role or 'none'} | {route.doc} |")
    return "\n".join(lines)


def _between(text: str) -> str:
    found = re.search(r"<!-- web-routes -->\n(.*?)\n?<!-- /web-routes -->", text, re.S)
    assert found, "docs/web.md has no <!-- web-routes --> block"
    return found.group(1).strip()


def test_the_docs_routes_table_is_the_route_table() -> None:
    assert _between(DOC.read_text()) == routes_table(), "regenerate: python -m tests.web.test_web_docs"


def main() -> None:
    text = re.sub(
        r"<!-- web-routes -->\n.*?<!-- /web-routes -->",
        f"<!-- web-routes -->\n{routes_table()}\n<!-- /web-routes -->",
        DOC.read_text(),
        flags=re.S,
    )
    DOC.write_text(text)


if __name__ == "__main__":
    main()
