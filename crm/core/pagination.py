"""Page numbers for lists: bounded page sizes, and the numbers a pager shows."""
from dataclasses import dataclass

MAX_PER_PAGE = 200


def page_args(args, default_per_page: int = 50) -> tuple[int, int]:
    """(page, per_page) from query arguments; nonsense falls back to the defaults."""
    def number(name, default):
        value = str(args.get(name, "")).strip()
        return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 10**7 else default

    return number("page", 1), min(number("per_page", default_per_page), MAX_PER_PAGE)


@dataclass
class Page:
    number: int
    per_page: int
    #: rows counted; with a cap, cap + 1 means "more than cap"
    total: int
    cap: int | None = None

    @property
    def capped(self) -> bool:
        return self.cap is not None and self.total > self.cap

    @property
    def pages(self) -> int:
        shown = min(self.total, self.cap) if self.capped else self.total
        return max(1, -(-shown // self.per_page), self.number if self.capped else 1)

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    def window(self, size: int = 2) -> list[int | None]:
        """Page numbers to show, with None where numbers are skipped: 1 … 4 5 [6] 7 8 … 20."""
        shown = {1, self.pages, *range(max(1, self.number - size), min(self.pages, self.number + size) + 1)}
        out, last = [], 0
        for n in sorted(shown):
            if n - last > 1:
                out.append(None)
            out.append(n)
            last = n
        return out
