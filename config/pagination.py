"""A paginator for lists whose exact length would cost more than the page itself."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedPaginator(Paginator):
    """Counts at most ``cap`` rows: the count query stops there (``LIMIT cap + 1`` inside it) instead
    of scanning every row that qualifies. Beyond the cap, ``capped`` is true, ``count`` is ``cap``
    and the pages stop at the cap's last page (``count_label`` says "more than 1,000"). Below it, it is
    Django's paginator.
    """

    def __init__(self, object_list, per_page, *, cap: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap

    @cached_property
    def counted(self) -> int:
        """Rows counted, at most ``cap + 1`` (one more than the cap says there are more)."""
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self.counted, self.cap)

    @property
    def capped(self) -> bool:
        return self.counted > self.cap

    @property
    def count_label(self) -> str:
        return f"more than {self.cap:,}" if self.capped else f"{self.count:,}"
