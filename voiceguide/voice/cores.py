"""How many processes or threads this machine can give a job now: free cores and free memory.

A core busy with other work gives a worker nothing but a share of its time, and a worker the
memory cannot hold makes the whole machine swap; so the default is the cores this process may
run on, less the load other work puts on them, and no more than the available memory holds.
"""

from __future__ import annotations

import os
import statistics
import time

RUNNABLE_SAMPLES = 5
"""Looks at the tasks runnable right now, a few milliseconds apart (their median is kept)."""
RUNNABLE_EVERY_S = 0.004


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def available_memory_mb() -> float | None:
    """Memory the system can give without swapping (Linux's MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def default_jobs(memory_mb_each: float = 0.0, shared: bool = False) -> int:
    """Workers to start when none were asked for: one per usable core, no more than the available
    memory holds at ``memory_mb_each`` megabytes a worker, and (unless they ``shared`` one engine)
    no more than the cores other work leaves idle, at least one.

    Workers that each load their own engine pay that start-up at a fraction of a core on a busy
    machine, where they would finish no sooner than one; threads sharing one loaded engine start
    for nothing, so only memory limits them.
    """
    cores = usable_cores()
    jobs = cores
    if not shared:
        jobs = max(1, min(cores, round(cores - other_work())))
    memory = available_memory_mb()
    if memory is not None and memory_mb_each > 0:
        jobs = min(jobs, max(1, int(memory // memory_mb_each)))
    return jobs


def other_work() -> float:
    """Cores other work keeps busy now: the one-minute load average, unless the tasks runnable at
    this moment say less.

    The average still counts work that ended seconds ago, such as this process's own previous
    render (one episode of a pack after another), which would leave every later one a single
    worker on an idle machine; work that goes on shows in both.
    """
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = 0.0
    now = runnable_now()
    return load if now is None else min(load, now)


def runnable_now() -> float | None:
    """Other tasks runnable at this moment (Linux's /proc/loadavg, less this reader), as the
    median of a few looks; None where the system does not say."""
    counts: list[int] = []
    for i in range(RUNNABLE_SAMPLES):
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(max(0, running - 1))
        if i + 1 < RUNNABLE_SAMPLES:
            time.sleep(RUNNABLE_EVERY_S)
    return float(statistics.median(counts))
