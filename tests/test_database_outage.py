"""The database killed under write load (bench/database_outage.py, in the suite).

A PostgreSQL cluster of the test's own, so stopping it harms no other test; a real gunicorn on
it; client threads reporting incidents with ``Idempotency-Key`` retries. While the database is
down every answer is the JSON 503 with ``Retry-After``; after the restart every acknowledged
incident exists exactly once and nothing unacknowledged was stored.
"""

import pytest

from bench import database_outage

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster():
    cluster = database_outage.ThrowawayPostgres()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


def test_clients_get_503_with_retry_after_while_the_database_is_down_and_nothing_is_lost_or_doubled(
    cluster, tmp_path
):
    figures = database_outage.run(cluster, tmp_path, clients=4, before=20, after=20)
    result = database_outage.verdict(figures, database_outage.stored_titles(cluster))
    print(database_outage.describe(figures, result))

    assert not figures.unexpected
    assert figures.answers_503 >= 8 and not figures.bad_503  # each client, twice
    status, retry_after, body = figures.healthz_while_down
    assert (status, retry_after, body["code"]) == (503, "1", "service_unavailable")
    assert result["acknowledged"] >= 40
    assert result == {**result, "lost": 0, "duplicated": 0, "unacknowledged_stored": 0}
