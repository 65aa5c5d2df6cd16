"""The address a request came from: the one answer that API throttles and login lockouts use.

Behind a reverse proxy every request comes from the proxy, so throttling and lockouts would treat
all clients as one. ``VERITY_CLIENT_ADDRESS_HEADER`` names the header the proxy sets to the client's
address (e.g. ``X-Forwarded-For``); it is read only when set, because a client can send any header
itself and only the proxy in front can be trusted to overwrite it.
"""

from ipaddress import ip_address

from django.conf import settings


def client_address(request) -> str:
    """The client's address: the right-most entry of the configured header (the one the nearest
    proxy added; the entries before it are whatever the client sent), else the peer address."""
    header = settings.VERITY_CLIENT_ADDRESS_HEADER
    if header:
        meta_key = "HTTP_" + header.upper().replace("-", "_")
        forwarded = request.META.get(meta_key, "").split(",")[-1].strip()
        if _is_address(forwarded):
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


def _is_address(value: str) -> bool:
    try:
        ip_address(value)
    except ValueError:
        return False
    return True
