import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from audit.services import audit_log


@pytest.fixture
def chain(personas):
    for n in range(5):
        audit_log(code="tests.event", actor=personas["admin"], context={"n": n})
    return list(AuditEvent.objects.order_by("id"))


@pytest.mark.django_db
def test_intact_chain_verifies(chain, capsys):
    call_command("verify_audit")
    assert "intact" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_application_refuses_to_change_or_delete_events(chain):
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=chain[0].pk).update(code="x")
    with pytest.raises(TypeError):
        chain[0].delete()
    with pytest.raises(TypeError):
        chain[0].save()


@pytest.mark.django_db
def test_an_update_behind_the_applications_back_is_named(chain):
    victim = chain[2]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET context = %s WHERE id = %s", ['{"n": 99}', victim.pk])
    with pytest.raises(CommandError, match=f"entry {victim.pk} .*altered"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_a_delete_behind_the_applications_back_is_named(chain):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [chain[1].pk])
    with pytest.raises(CommandError, match=f"entry {chain[2].pk} does not chain"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_create_api_token_prints_a_working_token(personas, client, capsys):
    call_command("create_api_token", "analyst")
    key = capsys.readouterr().out.strip()
    from rest_framework.authtoken.models import Token

    assert Token.objects.get(key=key).user == personas["analyst"]
    assert AuditEvent.objects.filter(code="accounts.api_token.created").exists()
    with pytest.raises(CommandError, match="No active user"):
        call_command("create_api_token", "nobody")


@pytest.mark.django_db
def test_a_rehashed_forgery_is_named_at_the_next_entry(chain):
    # Someone who alters an entry and recomputes its own hash still breaks the next link.
    victim = chain[1]
    victim.actor_username = "someone-else"
    forged = victim.compute_hash()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_username = %s, entry_hash = %s WHERE id = %s",
                       ["someone-else", forged, victim.pk])
    with pytest.raises(CommandError, match=f"entry {chain[2].pk} does not chain"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_a_moved_timestamp_is_named(chain):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET created_at = %s WHERE id = %s",
                       [chain[3].created_at.replace(year=2020), chain[3].pk])
    with pytest.raises(CommandError, match=f"entry {chain[3].pk} .*altered"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_deleting_the_first_entry_is_named(chain):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [chain[0].pk])
    with pytest.raises(CommandError, match=f"entry {chain[1].pk} does not chain"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_events_written_by_the_workflow_verify(personas, client):
    client.force_login(personas["admin"])
    client.post("/audit/exports/", {"format": "csv"})
    client.post("/accounts/login/", {"username": "admin", "password": "wrong"})
    assert AuditEvent.objects.filter(code__startswith="audit.export").count() >= 2
    call_command("verify_audit")
