"""A rich progress bar over judge calls (or a no-op), advanced from the backend's worker thread too."""

from __future__ import annotations

from typing import Any


class progress_bar:
    """`with progress_bar(enabled, total) as advance: ... advance()`."""

    def __init__(self, enabled: bool, total: int, title: str = "judging"):
        self.enabled, self.total, self.title, self._bar = enabled and total > 0, total, title, None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress(self.title, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=False)
        self._bar.start()
        task = self._bar.add_task(self.title, total=self.total)
        return lambda: self._bar.advance(task)  # type: ignore[union-attr]

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
