from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    assert "No changes detected" in out.getvalue()


# serialized_rollback restores the seeded products for the tests that run after this one.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_every_app_migrates_from_empty_and_back():
    executor = MigrationExecutor(connection)
    apps = ["analytics", "cases"]
    # Unapply our apps down to nothing, then forward again to the latest leaf nodes.
    executor.migrate([(app, None) for app in apps])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    executor = MigrationExecutor(connection)
    assert not executor.migration_plan(executor.loader.graph.leaf_nodes())
    tables = connection.introspection.table_names()
    assert "cases_case" in tables and "cases_manufacturingattempt" in tables
