from tests.api.conftest import api_as, panel  # noqa: F401  (shared fixtures: API clients and the panel)
