"""Freed memory kept during a run (population/memory.py): Arrow allocates with glibc while
a run holds it, and everything is as before once the last holder leaves."""

from __future__ import annotations

import threading

import pyarrow as pa

from osmanthus.population.memory import kept_for_reuse


def test_arrow_allocates_with_glibc_while_held_and_as_before_after() -> None:
    before = pa.default_memory_pool().backend_name
    with kept_for_reuse():
        assert pa.default_memory_pool().backend_name == "system"
        with kept_for_reuse():  # nested: the inner one leaving changes nothing
            pass
        assert pa.default_memory_pool().backend_name == "system"
        assert pa.array(range(1000)).sum().as_py() == 499500
    assert pa.default_memory_pool().backend_name == before


def test_threads_holding_it_at_once_leave_it_as_before() -> None:
    before = pa.default_memory_pool().backend_name
    inside = threading.Barrier(4)
    seen = []

    def run() -> None:
        with kept_for_reuse():
            inside.wait(10)  # all four hold it at once
            seen.append(pa.default_memory_pool().backend_name)
            inside.wait(10)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert seen == ["system"] * 4
    assert pa.default_memory_pool().backend_name == before
