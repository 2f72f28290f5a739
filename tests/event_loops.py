"""Running a coroutine from a test whatever the test process ran before."""

import asyncio
from concurrent.futures import ThreadPoolExecutor


def run_in_a_loop_of_its_own(coroutine):
    """asyncio.run in a thread of its own. This process's main thread may already hold a running event loop
    (Playwright's sync API, when a browser test ran first in this test process), where asyncio.run and
    async_to_sync refuse to run."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
