"""Every curl example of README.md and docs/*.md runs, as written, against a live Verity.

One gunicorn and one Celery worker serve the test database loaded as ``make run`` loads it (the
framework catalogs, the demo organisation, the AI Incident Database and FMTI snapshots). The
examples of each document run in document order with the real ``curl``, ``bash`` and ``jq``, with
the variables the API guide tells a reader to set (``tests.docs_examples.VARIABLES``):

- ``VERITY_URL``: the live server;
- ``VERITY_TOKEN``: a real API token of the demo persona who would run the document's examples
  (``TOKENS``): the officer ``olivia`` (write) for the API guide, the auditor ``aditya``
  (read-only) for the auditors' guide;
- ``CI_PIPELINE_ID``, ``CI_COMMIT_SHA``: a CI run's id and commit, for the CI recipes;
- ``VERITY_NODE``: the web node a load balancer probes (the deployment guide's health check).

The files the examples upload (a PDF report, a benchmark's JSONL results) are written by the test
into the working directory the examples run in.

Each example (``docs/api-guide.md:718``: the document and the line of its first command) must:
answer 2xx on every request, or the status its documented output shows (an ``HTTP/1.1 …`` line or
Verity's JSON error); print the keys its documented output shows; give the stored answer again,
``Idempotent-Replayed: true``, when a ``POST`` it sent with an ``Idempotency-Key`` is sent again;
and finish without a failing command. A CI gate that stops its job on the demo data (``GATES``)
must stop it with its own message, and no other gate may.
"""

from __future__ import annotations

import json
import shutil

import pytest
from django.conf import settings
from django.core.management import call_command

from governance.choices import TokenScope
from governance.models import User
from governance.services import tokens
from tests import docs_examples
from tests.docs_examples import VARIABLES, Runner, examples, minimal_env, problems

# The examples run once for the module (``results``); each test only reads what they did.
pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# The order the documents run in: the API guide writes what the auditors' guide reads (an uploaded
# evidence file, an approved Statement of Applicability).
DOCUMENTS = ["README.md", "docs/api-guide.md", "docs/auditors-guide.md"]
DOCUMENTS += sorted(
    str(path.relative_to(docs_examples.ROOT))
    for path in docs_examples.documents()
    if str(path.relative_to(docs_examples.ROOT)) not in DOCUMENTS
)

# Whose token each document's examples run with, and its scope.
TOKENS = {
    "docs/api-guide.md": ("olivia", TokenScope.WRITE),
    "docs/auditors-guide.md": ("aditya", TokenScope.READ),
}
DEFAULT_TOKEN = ("olivia", TokenScope.WRITE)

CI = {"CI_PIPELINE_ID": "4711", "CI_COMMIT_SHA": "3f9a1c2e8b7d4f6a0c5e9b1d2f3a4c5b6d7e8f90"}

# What the examples call besides bash builtins (the guides name them as prerequisites).
TOOLS = ("bash", "curl", "jq", "sha256sum", "unzip", "python3")

# CI gates that fail their job on the demo data: document → the message the gate prints, and why.
GATES = {
    "docs/api-guide.md": {
        "credit-scoring is high-risk and": "the demo's high-risk credit-scoring has coverage gaps",
        "The Statement of Applicability of credit-scoring has never been approved.": (
            "the guide approves the organisation's statement, not credit-scoring's"
        ),
        "credit-scoring has an overdue review": "seed_demo makes credit-scoring's first review 3 days late",
    },
}

EXAMPLES = [example for path in DOCUMENTS for example in examples(docs_examples.ROOT / path)]

# A small but real PDF (the evidence upload reads its type from its bytes).
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _write_files(workdir):
    """The files the examples send, as a reader's CI job would have them."""
    (workdir / "reports").mkdir()
    (workdir / "reports" / "release-sign-off.pdf").write_bytes(PDF)
    questions = [{"id": f"q-{n}", "question": f"Question {n}?", "answer": f"Answer {n}"} for n in range(1, 9)]
    (workdir / "simpleqa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    grades = "correct incorrect not_attempted correct correct incorrect correct correct".split()
    samples = [
        {"sample_id": f"q-{n}", "grade": grade, "score": 0.9 if grade == "correct" else 0.1}
        for n, grade in enumerate(grades, start=1)
    ]
    (workdir / "results.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))


@pytest.fixture(scope="module")
def results(django_db_setup, django_db_blocker, tmp_path_factory):
    """Start Verity, load it as ``make run`` does, and run every example in document order."""
    from bench.server import django_env, free_port, start_gunicorn, stop_gunicorn
    from tests.worker import REDIS_URL, Worker, database_url

    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"The guides' examples need {', '.join(missing)}; install them first.")

    base = tmp_path_factory.mktemp("docs")
    var, workdir, home = base / "var", base / "work", base / "home"
    for directory in (var, workdir, home):
        directory.mkdir()
    _write_files(workdir)

    with django_db_blocker.unblock():
        worker = Worker({"VERITY_VAR_DIR": str(var)})
        server = None
        try:
            call_command("seed_demo", verbosity=0)  # loads the catalogs first
            call_command("import_aiid", verbosity=0)
            call_command("import_fmti", verbosity=0)
            secrets = {}
            for path in DOCUMENTS:
                username, scope = TOKENS.get(path, DEFAULT_TOKEN)
                user = User.objects.get(username=username)
                issued = tokens.issue_token(actor=None, user=user, name="docs examples", scope=scope)
                secrets[path] = issued.secret

            worker.start()
            env = django_env(database_url(), settings.SECRET_KEY)
            env.update(
                VERITY_TOKEN_HMAC_KEY=settings.TOKEN_HMAC_KEY,
                VERITY_VAR_DIR=str(var),
                CELERY_BROKER_URL=REDIS_URL,
                VERITY_TEST_QUEUE=worker.queue,
                # The deployment guide's health check names the public host, as a load balancer would.
                DJANGO_ALLOWED_HOSTS="127.0.0.1,verity.example.com",
                # The webhook example's receiver (hooks.example.com) need not resolve on a machine
                # without DNS; nothing is delivered to it (the example deletes the endpoint it makes).
                VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",
            )
            port = free_port()
            server = start_gunicorn(
                env, port, workers=2, log_path=base / "gunicorn.log", app="tests.docs_wsgi"
            )

            runner = Runner(workdir, minimal_env(home))
            found = {}
            for example in EXAMPLES:
                variables = {
                    "VERITY_URL": f"http://127.0.0.1:{port}",
                    "VERITY_TOKEN": secrets[example.path],
                    "VERITY_NODE": f"127.0.0.1:{port}",
                    **CI,
                }
                assert set(variables) == set(VARIABLES)  # exactly the variables the guides document
                found[example.id] = runner.run(example, variables)
            yield found
        finally:
            if server is not None:
                stop_gunicorn(server)
            worker.stop()
            worker.purge()
            call_command("flush", verbosity=0, interactive=False)  # as a transactional test ends


def test_it_finds_the_curl_examples_of_the_guides():
    by_document = {example.path for example in EXAMPLES}
    assert {"docs/api-guide.md", "docs/auditors-guide.md", "docs/deployment.md"} <= by_document
    assert len(EXAMPLES) > 40


def test_it_stops_ci_jobs_on_the_demo_data_at_the_expected_gates_only(results):
    """Each expected gate fires (the demo data still has what it fails on); the parametrized test
    below holds that no other gate does."""
    for path, gates in GATES.items():
        fired = [r.stderr for r in results.values() if r.example.path == path and _stopped_by_gate(r)]
        for message, why in gates.items():
            assert any(message in stderr for stderr in fired), f"{path}: no gate printed {message!r} ({why})"


def _stopped_by_gate(result) -> bool:
    """The example ended by its own ``exit``, not by a failing command."""
    return result.exit_code != 0 and result.error_line is None


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.id for example in EXAMPLES])
def test_it_runs_the_example_as_documented(results, example):
    result = results[example.id]
    found = problems(result)
    gates = GATES.get(example.path, {})
    if _stopped_by_gate(result):
        if not any(message in result.stderr for message in gates):
            found.append(
                f"{example.id}: a gate stopped the job (exit {result.exit_code}): {result.stderr[-800:]}"
            )
    assert not found, "\n".join(found)
