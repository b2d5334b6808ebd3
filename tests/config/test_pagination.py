"""CappedPaginator: exact below the cap, the cap and "more than" above it, one bounded count query."""

import pytest

from config.pagination import CappedPaginator
from tests.factories import CentreFactory

pytestmark = pytest.mark.django_db


def _centres(n):
    for i in range(n):
        CentreFactory(code=f"pg{i:02d}")
    from cases.models import Centre

    return Centre.objects.filter(code__startswith="pg").order_by("code")


def test_below_the_cap_it_counts_exactly():
    paginator = CappedPaginator(_centres(4), 2, cap=5)
    assert (paginator.count, paginator.capped, paginator.count_label, paginator.num_pages) == (4, False, "4", 2)
    assert [c.code for c in paginator.get_page(2)] == ["pg02", "pg03"]


def test_at_the_cap_it_is_still_exact():
    assert not CappedPaginator(_centres(5), 2, cap=5).capped


def test_above_the_cap_it_stops_counting(django_assert_num_queries):
    centres = _centres(7)
    paginator = CappedPaginator(centres, 2, cap=5)
    with django_assert_num_queries(1) as captured:
        assert (paginator.count, paginator.capped, paginator.count_label) == (5, True, "more than 5")
    assert "LIMIT 6" in captured.captured_queries[0]["sql"]
    assert paginator.num_pages == 3 and [c.code for c in paginator.get_page(3)] == ["pg04"]


def test_page_one_of_a_short_list_costs_one_query(django_assert_num_queries):
    centres = _centres(3)
    with django_assert_num_queries(1):
        page = CappedPaginator(centres, 5, cap=10).get_page(1)
        assert [c.code for c in page] == ["pg00", "pg01", "pg02"] and page.paginator.count == 3
        assert not page.has_next()


def test_page_one_of_a_longer_list_counts_once_and_reads_the_rows_once(django_assert_num_queries):
    centres = _centres(7)
    with django_assert_num_queries(2):
        page = CappedPaginator(centres, 3, cap=10).get_page("1")
        assert [c.code for c in page] == ["pg00", "pg01", "pg02"]
        assert page.paginator.count == 7 and page.has_next()


@pytest.mark.parametrize(("number", "codes"), [("2", ["pg03", "pg04", "pg05"]), ("abc", ["pg00", "pg01", "pg02"]),
                                               ("99", ["pg06"]), (None, ["pg00", "pg01", "pg02"])])
def test_other_pages_and_invalid_numbers_behave_as_django_s(number, codes):
    assert [c.code for c in CappedPaginator(_centres(7), 3, cap=10).get_page(number)] == codes
