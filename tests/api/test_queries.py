"""Every list endpoint answers in a number of queries that does not grow with the page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import PHARMACIST, PHYSICIAN
from tests.api.test_authorization import _registry

pytestmark = pytest.mark.django_db

LISTS = ["centres", "products", "patients", "cases", "apheresis", "attempts", "release-results", "infusions",
         "outcomes", "applications", "votes", "decisions"]


def _count(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("endpoint", LISTS)
def test_list_queries_are_constant_in_page_size(api_as, personas, panel, centre_a, endpoint,
                                                django_assert_max_num_queries):
    client = api_as(personas["admin"])

    def grow(n):
        for _ in range(n):
            application = _registry(centre_a, api_as, panel)["application"]
            for member in panel[PHYSICIAN][1:3] + panel[PHARMACIST][:1]:
                api_as(member.user).post(f"/api/v1/applications/{application.pk}/votes/", {"choice": "approve"},
                                         format="json")
            _registry(centre_a, api_as, panel)  # and one still under review

    grow(1)
    small = _count(client, f"/api/v1/{endpoint}/")
    grow(4)
    with django_assert_max_num_queries(small):
        body = client.get(f"/api/v1/{endpoint}/").json()
    assert body["count"] >= 1
    assert small <= 10
