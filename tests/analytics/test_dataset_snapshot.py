"""The analysis dataset is read in one snapshot of the registry: writes committed meanwhile are not half in it.

Its own module: the test commits from a second connection, which the module-scoped demo registry's open
transaction in the other dataset tests would block.
"""

import threading

import pytest
from django.db import connection

from analytics.dataset import load_analysis_data
from tests.factories import AttemptFactory


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_dataset_is_read_as_of_one_moment_while_others_write():
    """A manufacturing attempt committed by another user after the cases were read is not in the
    attempts either: the cases, attempts and reasons describe the same registry (an export is not
    inside a recompute's transaction, so the loader takes its own snapshot)."""
    if connection.vendor != "postgresql":
        pytest.skip("the snapshot isolation is PostgreSQL's (SQLite serialises writers anyway)")

    first = AttemptFactory(outcome="oos")
    written = []

    def another_user_adds_an_attempt():
        try:
            AttemptFactory(apheresis=first.apheresis, number=2, outcome="in_spec")
            written.append(True)
        finally:
            connection.close()  # this thread's own connection

    def write_after_the_first_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not written and "ISOLATION" not in sql:  # the snapshot is taken by then: the COPY of the cases ran
            writer = threading.Thread(target=another_user_adds_an_attempt)
            writer.start()
            writer.join()
        return result

    with connection.execute_wrapper(write_after_the_first_read):
        data = load_analysis_data(paper_cohort=False)
    assert written, "the other user's attempt was not written during the load"
    assert list(data.attempts["number"]) == [1]
    assert list(load_analysis_data(paper_cohort=False).attempts["number"]) == [1, 2]
