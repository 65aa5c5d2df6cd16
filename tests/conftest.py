"""Personas and API clients shared by every test.

Personas: an officer, an engineer of team A, an engineer of team B ("other-team engineer") and
an auditor. ``api_as(user, scope)`` returns an APIClient holding a real bearer token.
"""

import os
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from governance.choices import Role, TokenScope
from governance.services import tokens
from tests.factories import AISystemFactory, TeamFactory, UserFactory


def pytest_sessionfinish(session, exitstatus):
    """Leave no embedded PostgreSQL behind: stop the server this run started, if it started one
    (with DATABASE_URL set it did not; config/embedded.py)."""
    from django.conf import settings
    from django.db import connections

    from config.embedded import stop_if_started_here

    connections.close_all()
    stop_if_started_here(settings.VAR_DIR)


@pytest.fixture(autouse=True, scope="session")
def _tasks_sent_here_stay_here():
    """Tasks that code under test sends from this process (a pack's build is sent before its
    request commits) go to kombu's in-memory transport, never to the filesystem broker a local
    ``make run`` reads in var/broker. Workers and servers the tests start name their own broker."""
    from config.celery import app

    app.conf.broker_url = "memory://"
    app.conf.broker_transport_options = {}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


REDIS_URL = os.environ.get("VERITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# High enough that no test reaches them by accident; the rate-limit tests set their own.
UNREACHED_RATES = {"token": "100000/min", "anonymous": "100000/min", "failed-authentication": "100000/min"}


@pytest.fixture(autouse=True)
def _rate_limits_per_test(settings):
    """Each test counts requests from zero, in the test Redis under a key prefix of its own (a
    database cache would add its queries to the query counts), at rates no test reaches unless it
    sets its own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    settings.VERITY_API_RATES = dict(UNREACHED_RATES)


@pytest.fixture
def team_a(db):
    return TeamFactory(slug="team-a", name="Team A")


@pytest.fixture
def team_b(db):
    return TeamFactory(slug="team-b", name="Team B")


@pytest.fixture
def officer(db):
    return UserFactory(username="officer", role=Role.OFFICER)


@pytest.fixture
def engineer(team_a):
    return UserFactory(username="engineer", role=Role.ENGINEER, teams=[team_a])


@pytest.fixture
def other_engineer(team_b):
    return UserFactory(username="other-engineer", role=Role.ENGINEER, teams=[team_b])


@pytest.fixture
def auditor(db):
    return UserFactory(username="auditor", role=Role.AUDITOR)


@pytest.fixture
def personas(officer, engineer, other_engineer, auditor):
    return {"officer": officer, "engineer": engineer, "other_engineer": other_engineer, "auditor": auditor}


@pytest.fixture
def system_a(team_a):
    return AISystemFactory(slug="system-a", owning_team=team_a)


@pytest.fixture
def api_as(db):
    def make(user, scope=TokenScope.WRITE):
        issued = tokens.issue_token(actor=None, user=user, name="test", scope=scope)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
        client.token = issued.token
        return client

    return make


@pytest.fixture
def gunicorn_env():
    """Extra environment for the ``gunicorn`` fixture's server; a module overrides it to run the
    server with settings of its own (rates, cache)."""
    return {}


@pytest.fixture
def gunicorn(transactional_db, tmp_path, settings, gunicorn_env):
    """A real gunicorn (4 worker processes) on a free loopback port, serving the test database with
    production settings (``bench.server.django_env``)."""
    from bench.server import django_env, free_port, start_gunicorn, stop_gunicorn

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}" + (
        f"&port={db['PORT']}" if db["PORT"] else ""
    )
    env = django_env(url, settings.SECRET_KEY)
    env["VERITY_TOKEN_HMAC_KEY"] = settings.TOKEN_HMAC_KEY  # tokens issued here must verify there
    env.update(gunicorn_env)
    port = free_port()
    proc = start_gunicorn(env, port, workers=4, log_path=tmp_path / "gunicorn.log")
    yield f"http://127.0.0.1:{port}"
    stop_gunicorn(proc)
