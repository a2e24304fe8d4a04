"""Numbers and tables as the result pages write them: one format a kind of number, the same on every page.

    >>> count(12345.6), ms(1.234), ms(123.4), rate(12.34), plural(2, "thread")
    ('12,346', '1.23', '123', '12.3', '2 threads')
    >>> print(table(["a", "b"], [["1", "2"]]))
    | a | b |
    |---|---|
    | 1 | 2 |
"""

from __future__ import annotations


def count(x: float) -> str:
    """Rates, rows, MB: whole numbers with thousands separators."""
    return f"{x:,.0f}"


def ms(x: float) -> str:
    """Milliseconds and seconds: two decimals under 10, one under 100, then whole numbers."""
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}" if abs(x) < 100 else f"{x:,.0f}"


def rate(x: float) -> str:
    """A rate that may be small: one decimal under 100, else whole numbers with separators."""
    return f"{x:.1f}" if abs(x) < 100 else count(x)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in rows])
