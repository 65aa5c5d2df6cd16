"""The API documentation pages load nothing from another host: no CDN, no web fonts."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from tests.browser import chromium

DOCS_PAGES = ["/api/docs/", "/api/redoc/"]


class _Resources(HTMLParser):
    """The addresses a page's script, link, img, iframe and source tags load."""

    ATTRIBUTES = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src"}

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        wanted = self.ATTRIBUTES.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def _outside(urls, host="testserver"):
    return [
        url
        for url in urls
        if urlsplit(url).scheme in ("http", "https", "") and urlsplit(url).netloc not in ("", host)
    ]


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_it_serves_the_docs_pages_with_every_script_and_stylesheet_from_this_host(client, page):
    response = client.get(page)
    assert response.status_code == 200
    parser = _Resources()
    parser.feed(response.content.decode())
    assert any("drf_spectacular_sidecar" in url for url in parser.urls), parser.urls
    assert _outside(parser.urls) == []
    assert "fonts.googleapis" not in response.content.decode()


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_it_keeps_the_browser_on_this_host_with_a_content_security_policy(client, page):
    policy = client.get(page)["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "img-src 'self' data:" in policy


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page,rendered", [("/api/docs/", ".swagger-ui .info .title"), ("/api/redoc/", "h1")])
def test_it_renders_the_docs_in_a_browser_without_a_request_to_another_host(live_server, page, rendered):
    """Every request the page makes goes to this host, and the page's policy refuses nothing
    (``chromium()`` fails on a violation): ReDoc's logo from its vendor's CDN is never asked for."""
    with chromium() as browser:
        context = browser.new_context(base_url=live_server.url)
        requested: list[str] = []
        context.on("request", lambda request: requested.append(request.url))
        tab = context.new_page()
        tab.goto(page)
        tab.wait_for_selector(f"{rendered}:has-text('Verity API')", timeout=20_000)
        tab.wait_for_load_state("networkidle")
        context.close()
    host = urlsplit(live_server.url).netloc
    sent = [url for url in requested if urlsplit(url).scheme in ("http", "https")]
    assert [url for url in sent if urlsplit(url).netloc != host] == []
    assert f"{live_server.url}/api/schema/" in sent
