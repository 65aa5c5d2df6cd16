"""HTTP(S) requests sent only to addresses that were checked beforehand (no DNS rebinding).

A webhook's host name is resolved once and every address it gave is checked
(``governance.services.webhooks.pinned_addresses``); the request must then go to one of *those*
addresses. Letting the HTTP library resolve the name again at connect time would open a window in
which a name that passed the check points somewhere inside instead.

The connections below take the checked addresses and connect to the first that answers (as
``socket.create_connection`` would, but without a lookup), while everything else about the request
still names the original host: the ``Host`` header (urllib sends the URL's host), the TLS server
name (SNI) and the certificate check (``ssl`` verifies the certificate against the name given as
``server_hostname``, which ``http.client`` takes from the URL's host). Proxies from the
environment are not used: a proxy would resolve the name itself.
"""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
import urllib.request
from collections.abc import Sequence


class _Pinned:
    """Opens the connection's socket to one of ``pinned_addresses`` instead of resolving ``host``."""

    def __init__(self, host, *, pinned_addresses: Sequence[str], **kwargs):
        super().__init__(host, **kwargs)
        self.pinned_addresses = tuple(pinned_addresses)
        # http.client opens every socket through this attribute; the port stays the URL's.
        self._create_connection = self._connect_pinned

    def _connect_pinned(self, address, *args, **kwargs):
        _host, port = address
        error = OSError("No address to connect to.")
        for pinned in self.pinned_addresses:
            try:
                return socket.create_connection((pinned, port), *args, **kwargs)
            except OSError as exc:  # an IPv6 address without an IPv6 route, say: try the next
                error = exc
        raise error


class PinnedHTTPConnection(_Pinned, http.client.HTTPConnection):
    """An ``HTTPConnection`` to ``host`` over a socket to one of ``pinned_addresses``."""


class PinnedHTTPSConnection(_Pinned, http.client.HTTPSConnection):
    """An ``HTTPSConnection`` to ``host`` over a socket to one of ``pinned_addresses``; TLS (SNI
    and the certificate's name) is still checked against ``host``."""


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, addresses: Sequence[str]):
        super().__init__()
        self.connection = functools.partial(PinnedHTTPConnection, pinned_addresses=addresses)

    def http_open(self, req):
        return self.do_open(self.connection, req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, addresses: Sequence[str], context: ssl.SSLContext):
        super().__init__(context=context)
        self.connection = functools.partial(PinnedHTTPSConnection, pinned_addresses=addresses)

    def https_open(self, req):
        return self.do_open(self.connection, req, context=self._context)


def pinned_opener(
    addresses: Sequence[str], *handlers: urllib.request.BaseHandler, context: ssl.SSLContext | None = None
) -> urllib.request.OpenerDirector:
    """A urllib opener whose HTTP and HTTPS connections all go to one of ``addresses``.

    ``context`` defaults to the standard verifying one (``ssl.create_default_context``): the
    certificate must be valid for the URL's host name. ``handlers`` are added as with
    ``urllib.request.build_opener`` (delivery adds one that refuses redirects).
    """
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _PinnedHTTPHandler(addresses),
        _PinnedHTTPSHandler(addresses, context or ssl.create_default_context()),
        *handlers,
    )
