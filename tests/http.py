"""Plain HTTP against a real server (the ``gunicorn`` fixture), for concurrency tests."""

import urllib.error
import urllib.request


def post_json(base_url: str, path: str, secret: str, body: bytes, key: str | None = None):
    """POST ``body`` with a bearer token (and an Idempotency-Key); returns status, headers, body."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(base_url + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
