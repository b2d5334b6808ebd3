import pytest

from tests.faults.procs import RedisServer


@pytest.fixture
def redis_server():
    """A redis-server of this test's own on a free port (the shared one on 6379 is never touched)."""
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
def api_token(personas):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=personas["physician"])
    return {"Authorization": f"Token {token.key}"}
