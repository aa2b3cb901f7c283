"""Changes to os.environ that can be undone exactly.

The stack, the pollers and the client each point boto3 and Settings at the local endpoint for a
while; undoing must restore each variable as it was before its first change (or remove it).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class EnvPatch:
    def __init__(self) -> None:
        self._before: dict[str, str | None] = {}

    def set(self, values: dict[str, str]) -> None:
        for k, v in values.items():
            self._before.setdefault(k, os.environ.get(k))
            os.environ[k] = str(v)

    def clear(self, names: Iterable[str]) -> None:
        for k in names:
            if k in os.environ:
                self._before.setdefault(k, os.environ.pop(k))

    def undo(self) -> None:
        for k, v in self._before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._before.clear()


@contextmanager
def patched_environ(values: dict[str, str], clear: Iterable[str] = ()) -> Iterator[None]:
    """`values` set and `clear` removed for the duration of the block."""
    patch = EnvPatch()
    patch.clear(k for k in clear if k not in values)
    patch.set(values)
    try:
        yield
    finally:
        patch.undo()
