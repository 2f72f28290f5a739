"""The reliability suite's tally of jobs and faults, summed over every test process of a run.

Each test adds what it submitted and injected to TALLY. Under pytest-xdist the tests run in worker processes:
each worker hands its counts to the controller when it finishes (`workeroutput`), and the controller prints
the totals, so a parallel run reports the same figures as a serial one.
"""

import collections
import json

TALLY: collections.Counter = collections.Counter()
ORDER = ("submitted", "finished", "failed_with_reason", "duplicated", "lost", "injected", "survived")
WORKER_OUTPUT_KEY = "reliability_tally"


def export(workeroutput: dict) -> None:
    """In a worker: hand this process's counts to the controller."""
    workeroutput[WORKER_OUTPUT_KEY] = json.dumps(dict(TALLY))


def absorb(workeroutput: dict) -> None:
    """In the controller: add a finished worker's counts."""
    TALLY.update(json.loads(workeroutput.get(WORKER_OUTPUT_KEY, "{}")))


def write_summary(terminalreporter) -> None:
    if not TALLY:
        return
    terminalreporter.section("reliability: jobs and faults")
    for key in ORDER:
        terminalreporter.write_line(f"{key:>20}: {TALLY[key]}")
    for key in sorted(k for k in TALLY if k.startswith("fault:")):
        terminalreporter.write_line(f"{key:>40}: {TALLY[key]}")
