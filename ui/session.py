"""Who is signed in, and the shared service handles every page uses.

Identity is server-side only: `st.session_state["user_id"]` is set by the sign-in page (or, on a
new tab or a reload, from the ``gas_session`` cookie: its token is looked up in the sessions
table, `gas.sessions`), and the user is re-read from the users table on every run, so the plan
shown and enforced is always the current one. A tab signed in through a session re-checks that
session on every run too, so signing out (in any tab) or expiry ends it everywhere at once.
Pages call `require_user()` first; it stops the page for anyone not signed in.

The cookie itself is written and removed by `ui.components.cookie`, mounted once per run by
`sync_cookie()` (ui/app.py). docs/auth.md explains the design.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from gas.auth import Auth
from gas.sessions import SessionStore, valid_token
from gas.settings import Settings
from gas.store import JobStore
from gas.users import User, UserStore
from ui.components import cookie
from ui.components.cookie import COOKIE_NAME

USER_KEY = "user_id"
TOKEN_KEY = "gas_session_token"      # the session token of this tab's sign-in (server-side only)
DEAD_KEY = "gas_dead_session_tokens"  # tokens found revoked/expired/unknown: never adopted again
NOTICE_KEY = "gas_signin_notice"     # one message for the sign-in page's next run ("You are signed out.")


@dataclass(frozen=True)
class Services:
    """Long-lived handles, one per server process (boto3 clients are thread-safe)."""

    settings: Settings
    jobs: JobStore
    users: UserStore
    auth: Auth | None = None
    sessions: SessionStore | None = None


@st.cache_resource(show_spinner=False)
def services() -> Services:
    settings = Settings.from_env()
    users = UserStore(settings)
    return Services(settings=settings, jobs=JobStore(settings), users=users,
                    auth=Auth(settings, users=users), sessions=SessionStore(settings))


def cookie_token() -> str | None:
    """The ``gas_session`` cookie the browser sent when this tab connected (well-formed or None)."""
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # noqa: BLE001 - no browser (bare mode)
        return None
    return value if valid_token(value) else None


def _dead(token: str | None) -> None:
    if token:
        dead = [t for t in st.session_state.get(DEAD_KEY, []) if t != token]
        st.session_state[DEAD_KEY] = (dead + [token])[-cookie.MAX_DEAD:]


def _forget() -> None:
    _dead(st.session_state.pop(TOKEN_KEY, None))
    st.session_state.pop(USER_KEY, None)


def _session_user_id() -> str | None:
    """The user id this tab is signed in as, after checking its session (or adopting the cookie's)."""
    state = st.session_state
    sessions = services().sessions
    token = state.get(TOKEN_KEY)
    if token is not None:       # signed in through a session: it must still be live
        if sessions is None or sessions.lookup(token) != state.get(USER_KEY):
            _forget()
            return None
        return state.get(USER_KEY)
    if state.get(USER_KEY):     # set without a session (tests seed it)
        return state[USER_KEY]
    token = cookie_token()      # a reload or a new tab: the cookie's session, if it is live
    if token is None or sessions is None or token in state.get(DEAD_KEY, []):
        return None
    user_id = sessions.lookup(token)
    if user_id is None:
        _dead(token)
        return None
    state[USER_KEY], state[TOKEN_KEY] = user_id, token
    return user_id


def current_user() -> User | None:
    """The signed-in user, freshly read from the users table; None when nobody is signed in."""
    user_id = _session_user_id()
    if not user_id:
        return None
    user = services().users.get(user_id)
    if user is None:  # deleted since sign-in
        _forget()
    return user


def sign_in(user: User) -> str:
    """Start a server-side session for `user` in this tab; returns its token (the page's cookie
    is written on the next run by `sync_cookie`)."""
    token = services().sessions.create(user.user_id)  # type: ignore[union-attr]
    st.session_state[USER_KEY], st.session_state[TOKEN_KEY] = user.user_id, token
    return token


def sign_out() -> None:
    """Forget the user in this tab and revoke its session (and the cookie's) server-side; the
    cookie is removed on the next run by `sync_cookie`. The tab forgets first, so a failing
    revoke (raised) still leaves it signed out."""
    tokens = {st.session_state.get(TOKEN_KEY), cookie_token()} - {None}
    for token in tokens:
        _dead(token)
    _forget()
    sessions = services().sessions
    if sessions is not None:
        for token in tokens:
            sessions.revoke(token)


def sync_cookie() -> None:
    """Mount the cookie component for this run (ui/app.py calls it once, before the page)."""
    cookie.render(st.session_state.get(TOKEN_KEY), services().settings.session_ttl_s,
                  list(st.session_state.get(DEAD_KEY, [])))


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
    """The `?job=` query parameter (or `?id=`, the form the notification e-mail links to), or
    None. Ownership is checked by the caller, never here."""
    for name in ("job", "id"):
        value: Any = st.query_params.get(name)
        if isinstance(value, str) and value:
            return value
    return None
