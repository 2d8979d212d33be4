"""The bounded FIFO store behind the verification caches."""

from __future__ import annotations

from tokenforge.auth.fifo import BoundedFifo


def test_a_bounded_store_forgets_the_oldest() -> None:
    fifo: BoundedFifo[int, str] = BoundedFifo(3)
    for i in range(10):
        fifo.put(i, str(i))
    assert list(fifo) == [7, 8, 9]
    fifo.put(7, "again")  # replacing makes it the newest
    fifo.put(10, "10")
    assert list(fifo.items()) == [(9, "9"), (7, "again"), (10, "10")]


def test_a_bound_of_zero_stores_nothing() -> None:
    nothing: BoundedFifo[int, str] = BoundedFifo(0)
    nothing.put(1, "1")
    assert len(nothing) == 0
