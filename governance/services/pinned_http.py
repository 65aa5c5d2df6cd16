"""HTTP(S) requests sent to one address that was checked beforehand (no DNS rebinding).

A webhook's host name is resolved once and every address it gave is checked
(``governance.services.webhooks.pinned_address``); the request must then go to one of *those*
addresses. Letting the HTTP library resolve the name again at connect time would open a window in
which a name that passed the check points somewhere inside instead.

The connections below take the checked address and connect to it, while everything else about the
request still names the original host: the ``Host`` header (urllib sends the URL's host), the TLS
server name (SNI) and the certificate check (``ssl`` verifies the certificate against the name
given as ``server_hostname``, which ``http.client`` takes from the URL's host). Proxies from the
environment are not used: a proxy would resolve the name itself.
"""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
import urllib.request


class _Pinned:
    """Opens the connection's socket to ``pinned_address`` instead of resolving ``host``."""

    def __init__(self, host, *, pinned_address: str, **kwargs):
        super().__init__(host, **kwargs)
        self.pinned_address = pinned_address
        # http.client opens every socket through this attribute; the port stays the URL's.
        self._create_connection = self._connect_pinned

    def _connect_pinned(self, address, *args, **kwargs):
        _host, port = address
        return socket.create_connection((self.pinned_address, port), *args, **kwargs)


class PinnedHTTPConnection(_Pinned, http.client.HTTPConnection):
    """An ``HTTPConnection`` to ``host`` over a socket to ``pinned_address``."""


class PinnedHTTPSConnection(_Pinned, http.client.HTTPSConnection):
    """An ``HTTPSConnection`` to ``host`` over a socket to ``pinned_address``; TLS (SNI and the
    certificate's name) is still checked against ``host``."""


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, pinned_address: str):
        super().__init__()
        self.pinned_address = pinned_address

    def http_open(self, req):
        return self.do_open(functools.partial(PinnedHTTPConnection, pinned_address=self.pinned_address), req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, pinned_address: str, context: ssl.SSLContext | None):
        super().__init__(context=context)
        self.pinned_address = pinned_address

    def https_open(self, req):
        connection = functools.partial(PinnedHTTPSConnection, pinned_address=self.pinned_address)
        return self.do_open(connection, req, context=self._context)


def pinned_opener(
    pinned_address: str, *handlers: urllib.request.BaseHandler, context: ssl.SSLContext | None = None
) -> urllib.request.OpenerDirector:
    """A urllib opener whose HTTP and HTTPS connections all go to ``pinned_address``.

    ``context`` defaults to the standard verifying one (``ssl.create_default_context``): the
    certificate must be valid for the URL's host name. ``handlers`` are added as with
    ``urllib.request.build_opener`` (delivery adds one that refuses redirects).
    """
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _PinnedHTTPHandler(pinned_address),
        _PinnedHTTPSHandler(pinned_address, context or ssl.create_default_context()),
        *handlers,
    )
