"""A small in-process limiter of failures: for the public lookup, so case ids cannot be paired with
phone digits by brute force (10 000 combinations per case), and for passwords at login."""

from __future__ import annotations

import time
from collections import deque


class Throttle:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = time.monotonic()
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] < now - self.window:
            failures.popleft()
        return failures

    def blocked(self, key: str) -> bool:
        return len(self._recent(key)) >= self.limit

    def failed(self, key: str) -> None:
        self._recent(key).append(time.monotonic())
        if len(self._failures) > 100_000:  # bound memory under a flood of distinct keys
            self._failures.clear()

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)
