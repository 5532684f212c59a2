"""``/docs`` works with no network but the api's: the page, every file it loads and the OpenAPI
document it shows all come from the api itself, with the right content types.

No browser here (none is installed on these machines, and CI installs none): the test reads the
page as a browser would find its references (script and link elements, and the document URL in
Swagger UI's configuration) and fetches each from the api.
"""

import re
from html.parser import HTMLParser

import httpx
import pytest

# What a browser accepts for each kind of file (JavaScript has two registered names).
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class References(HTMLParser):
    """The URLs an HTML page makes a browser load: scripts, style sheets, icons, and inline
    scripts' text (for the URLs they name)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self._in_script = not named.get("src")
            if named.get("src"):
                self.urls.append(str(named["src"]))
        elif tag == "link" and named.get("href"):
            self.urls.append(str(named["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_scripts.append(data)


def kind(url: str) -> str:
    return "." + url.rsplit(".", 1)[-1]


async def test_docs_page_loads_everything_from_the_api_itself(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//", page.text), "the page names another host"
    found = References()
    found.feed(page.text)
    # Swagger UI's configuration: the document it loads (``url``), and nothing else it would fetch.
    [config] = [script for script in found.inline_scripts if "SwaggerUIBundle(" in script]
    [document_url] = re.findall(r"\burl: '([^']+)'", config)
    assert '"validatorUrl": null' in config  # Swagger UI's badge would come from its own host
    urls = [*found.urls, document_url]
    assert {kind(url) for url in urls} == {".js", ".css", ".png", ".json"}
    for url in urls:
        assert url.startswith("/"), url
        answer = await client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].split(";")[0] in CONTENT_TYPES[kind(url)], url
        assert answer.content, url
    script = await client.get(next(url for url in urls if url.endswith(".js")))
    assert "SwaggerUIBundle" in script.text
    document = (await client.get(document_url)).json()
    assert "/v1/meta" in document["paths"]


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/",  # no listing
        "/docs/assets/index.html",  # Swagger UI's own demo page, shipped in the package: not served
        "/docs/assets/..%2F__init__.py",  # nothing outside the files either
        "/docs/assets/..%2F..%2F..%2Fswagger_ui_bundle%2F__init__.py",
    ],
)
async def test_docs_files_are_those_the_page_loads_only(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_found"
