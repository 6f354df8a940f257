"""How the generator draws and writes values: random streams, months, money, tax, timestamps."""

from __future__ import annotations

import calendar
import datetime
import random
import unicodedata
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

DAY = 86_400
_TAX_RATE = Decimal("0.2")
_CENT = Decimal("0.01")


def random_stream(seed: int, stream: str) -> random.Random:
    """Independent, reproducible random stream per table."""
    return random.Random(f"tributary-demo:{seed}:{stream}")


def add_months(day: datetime.date, months: int) -> datetime.date:
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day.day, last))


def money(cents: int) -> float:
    """Integer cents -> the float nearest to ``cents / 100`` (``1230 -> 12.3``).

    True division of ints is correctly rounded, so ``repr`` of the result is
    the shortest decimal string and quantizes back to the exact cents.
    """
    return cents / 100


def tax(total_cents: int) -> float:
    """20 % tax rounded half-up to cents (see :func:`money`)."""
    total = Decimal(total_cents).scaleb(-2)
    return float((total * _TAX_RATE).quantize(_CENT, rounding=ROUND_HALF_UP))


def ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights``
    (largest remainder, ties by position -> deterministic)."""
    wsum = sum(weights)
    raw = [total * w / wsum for w in weights]
    parts = [int(x) for x in raw]
    rest = total - sum(parts)
    order = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


class Clock:
    """Formats offsets (seconds since ``start`` midnight) as TIMESTAMP text
    without going through ``datetime`` for every row."""

    def __init__(self, start: datetime.date, days: int) -> None:
        self._start = start
        self._days = [(start + datetime.timedelta(days=d)).isoformat() + " " for d in range(days)]
        self._hms = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

    def day(self, index: int) -> str:
        if 0 <= index < len(self._days):
            return self._days[index][:-1]
        return (self._start + datetime.timedelta(days=index)).isoformat()

    def ts(self, offset: int) -> str:
        d, s = divmod(offset, DAY)
        if 0 <= d < len(self._days):
            return self._days[d] + self._hms[s]
        return f"{self.day(d)} {self._hms[s]}"
