"""COPY … TO STDOUT read by a helper thread: every byte in order, errors raised, early stops clean."""

import threading

import psycopg
import pytest
from django.db import connection

from governance.packs import copy_out
from governance.packs.copy_out import CopyOut

SERIES = "COPY (SELECT g, repeat('x', 100) FROM generate_series(1, %s) AS g) TO STDOUT WITH (FORMAT csv)"


@pytest.mark.django_db
def test_it_yields_every_row_in_order_after_the_prefix_in_blocks(monkeypatch):
    monkeypatch.setattr(copy_out, "BLOCK_BYTES", 4096)
    with connection.cursor() as cursor:
        stream = CopyOut(cursor.cursor, SERIES, [2000], prefix=b"n,text\n")
        blocks = list(stream)
    text = b"".join(blocks).decode()
    lines = text.splitlines()
    assert lines[0] == "n,text"
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, 2001))
    assert stream.rows == 2000
    assert len(blocks) > 10 and all(len(b) >= 4096 for b in blocks[:-1])


@pytest.mark.django_db
def test_an_error_in_the_statement_is_raised_to_the_reader():
    with connection.cursor() as cursor:
        stream = CopyOut(cursor.cursor, "COPY (SELECT 1 / (g - 5) FROM generate_series(1, 10) g) TO STDOUT")
        with pytest.raises(psycopg.errors.DivisionByZero):
            list(stream)


@pytest.mark.django_db
def test_a_reader_that_stops_early_leaves_no_thread_behind(monkeypatch):
    monkeypatch.setattr(copy_out, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(copy_out, "QUEUED_BLOCKS", 1)
    with connection.cursor() as cursor:
        blocks = iter(CopyOut(cursor.cursor, SERIES, [50000]))
        assert next(blocks)
        blocks.close()
    assert not [t for t in threading.enumerate() if t.name == "pack-copy-out"]
