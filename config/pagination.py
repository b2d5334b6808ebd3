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
        self._head = None  # the first page and one row more, when page 1 is asked for

    @cached_property
    def counted(self) -> int:
        """Rows counted, at most ``cap + 1`` (one more than the cap says there are more)."""
        if self._head is not None and len(self._head) <= self.per_page:
            return len(self._head)  # page 1 holds them all: no count query
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    def get_page(self, number):
        # Page 1 (asked for, or what an invalid number falls back to) is read with one row more, which
        # tells whether a count is needed at all: the common short list costs one query, not two.
        try:
            first = int(number or 1) == 1
        except (TypeError, ValueError):
            first = True
        if first and not self.orphans:
            self._head = list(self.object_list[: self.per_page + 1])
        return super().get_page(number)

    def page(self, number):
        number = self.validate_number(number)
        if number == 1 and self._head is not None:
            return self._get_page(self._head[: self.per_page], 1, self)
        return super().page(number)

    @cached_property
    def count(self) -> int:
        return min(self.counted, self.cap)

    @property
    def capped(self) -> bool:
        return self.counted > self.cap

    @property
    def count_label(self) -> str:
        return f"more than {self.cap:,}" if self.capped else f"{self.count:,}"
