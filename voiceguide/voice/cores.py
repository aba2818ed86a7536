"""How many processes or threads this machine can give a job now: free cores and free memory.

A core busy with other work gives a worker nothing but a share of its time, and a worker the
memory cannot hold makes the whole machine swap; so the default is the cores this process may
run on, less the load other work puts on them, and no more than the available memory holds.
"""

from __future__ import annotations

import os


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
        try:
            busy = os.getloadavg()[0]
        except (OSError, AttributeError):
            busy = 0.0
        jobs = max(1, min(cores, round(cores - busy)))
    memory = available_memory_mb()
    if memory is not None and memory_mb_each > 0:
        jobs = min(jobs, max(1, int(memory // memory_mb_each)))
    return jobs
