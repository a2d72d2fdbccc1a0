"""Real concurrency for tests: jobs released at once, each on its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection


def run_together(jobs: Sequence[Callable[[], Any]]) -> list[Any]:
    """Start every job on its own thread at the same instant; their results, in order.

    Each thread's connection is closed after its job, so the test database can be
    flushed (use ``django_db(transaction=True)``: the jobs must see committed rows).
    """
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> Any:
        try:
            barrier.wait()
            return job()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return [future.result() for future in [pool.submit(run, job) for job in jobs]]
