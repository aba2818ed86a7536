"""A rich progress display for long work; quiet when output is not a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

LABELS = {"speech": "Speaking lines", "audio": "Building audio"}


@contextlib.contextmanager
def progress_display() -> Iterator[Callable[[str, float, float], None]]:
    """Yield a ``progress(stage, done, total)`` callback that drives one bar per stage."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda stage, done, total: None
        return
    with Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: float, total: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(LABELS.get(stage, stage), total=max(total, 1e-9))
            bar.update(tasks[stage], completed=done, total=max(total, 1e-9))

        yield update
