"""Schemathesis over every operation of the OpenAPI schema, against a real gunicorn.

A bounded run (``bench/schemathesis_run.py`` with a fixed seed, a few examples per operation, no
coverage phase) with an officer's and an engineer's token on the demo organisation. The checks:
no 5xx, every response matches its schema and documents its status, and requests that break the
schema are refused. Any failure fails the test and is printed with what was sent.
``bench/schemathesis_run.py`` is the long run (100 examples per operation, coverage phase too).
"""

import pytest
from django.core.management import call_command

from bench import schemathesis_run

pytestmark = pytest.mark.integration

EXAMPLES = 3


@pytest.mark.parametrize("persona", sorted(schemathesis_run.PERSONAS))
def test_every_operation_holds_to_its_schema(persona, gunicorn, tmp_path):
    call_command("seed_demo", verbosity=0)
    token = schemathesis_run.issue_tokens()[persona]
    figures = schemathesis_run.run(
        gunicorn,
        token,
        persona=persona,
        examples=EXAMPLES,
        report_dir=tmp_path,
        phases=schemathesis_run.SHORT_PHASES,
    )
    print(figures.line())
    assert figures.operations > 100, "\n".join(figures.messages)
    assert not figures.failures and not figures.messages, "\n".join([figures.line(), *figures.messages])
