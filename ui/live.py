"""Two page helpers: a part of a page that refreshes itself only while it needs to, and AWS
failures turned into a sentence instead of a stack trace.

`live(key, load, render, every)` loads once in the page's full run, then renders inside an
`st.fragment` whose `run_every` is `every(value)`: e.g. 3 s while a job runs, None once
everything is finished. Only the fragment reruns on the timer (one small read each time).
When a refresh finds that the interval should change (the last running job finished), it asks
for one full rerun, which rebuilds the fragment with the new interval (or none) and lets the
rest of the page (downloads, ...) catch up.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("gas.ui")

UNAVAILABLE = "{what} could not be loaded just now. Please try again in a moment."


@contextmanager
def soft_failure(what: str) -> Iterator[None]:
    """Stop the page with a one-line error when AWS fails (logged in full, shown in words)."""
    try:
        yield
    except (BotoCoreError, ClientError):
        log.exception("%s: AWS call failed", what)
        st.error(UNAVAILABLE.format(what=what))
        st.stop()


def live[T](key: str, load: Callable[[], T], render: Callable[[T], None],
         every: Callable[[T], float | None]) -> T:
    """Render `load()` with `render`, refreshed every `every(value)` seconds (never when None).
    Returns the value of the full run (what the rest of the page should show)."""
    what = key.replace("_", " ").capitalize()
    with soft_failure(what):
        first = load()
    interval = every(first)
    prefetched = f"_live_{key}"
    st.session_state[prefetched] = first

    @st.fragment(run_every=interval)
    def _part() -> None:
        value = st.session_state.pop(prefetched, None)
        if value is None:  # a timed refresh (or a widget inside the fragment): read again
            with soft_failure(what):
                value = load()
        render(value)
        if every(value) != interval:
            st.rerun(scope="app")

    _part()
    return first
