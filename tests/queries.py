"""Counting the queries of one API request, for constant-cost assertions."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def steady_state_queries(client, url):
    """Queries of a GET in steady state, and its JSON body.

    The first use of a token also stamps its last use, so the request is made once before it is
    counted.
    """
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response.json()
