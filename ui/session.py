"""Who is signed in, and the shared service handles every page uses.

Identity is server-side only: `st.session_state["user_id"]` is set by the sign-in page (or, on a
new tab or a reload, from the session cookie via `gas.auth`), and the user is re-read from the
users table on every run, so the plan shown and enforced is always the current one.
Pages call `require_user()` first; it stops the page for anyone not signed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from gas.settings import Settings
from gas.store import JobStore
from gas.users import User, UserStore

USER_KEY = "user_id"


@dataclass(frozen=True)
class Services:
    """Long-lived handles, one per server process (boto3 clients are thread-safe)."""

    settings: Settings
    jobs: JobStore
    users: UserStore


@st.cache_resource(show_spinner=False)
def services() -> Services:
    settings = Settings.from_env()
    return Services(settings=settings, jobs=JobStore(settings), users=UserStore(settings))


def current_user() -> User | None:
    """The signed-in user, freshly read from the users table; None when nobody is signed in."""
    user_id = st.session_state.get(USER_KEY)
    if not user_id:
        return None
    user = services().users.get(user_id)
    if user is None:  # deleted since sign-in
        st.session_state.pop(USER_KEY, None)
    return user


def require_user() -> User:
    """The signed-in user, or stop the page with a pointer to the sign-in page."""
    user = current_user()
    if user is None:
        st.info("Please sign in to continue.")
        st.stop()
    return user  # type: ignore[return-value]


def on_embedded_stack() -> bool:
    """True when running against `gas up` (the outbox page exists only there)."""
    import os
    return os.environ.get("GAS_LOCAL_STACK") == "1"


def query_job_id() -> str | None:
    """The `?job=` query parameter, or None. Ownership is checked by the caller, never here."""
    value: Any = st.query_params.get("job")
    return value if isinstance(value, str) and value else None
