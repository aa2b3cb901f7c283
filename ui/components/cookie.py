"""The ``gas_session`` cookie: written and removed by a tiny `st.components.v2` component.

Why a cookie at all: Streamlit keeps ``st.session_state`` per WebSocket connection, so a reload
or a new tab starts with nobody signed in. The browser sends its cookies with the WebSocket
handshake, and the server reads them back with ``st.context.cookies`` (`ui.session`), so the
session token survives a reload and reaches a new tab. The cookie holds only the opaque token of
a server-side session (`gas.sessions`), never a Cognito token or a user id.

Streamlit has no server-side way to set a cookie, so this runs in the page:
``gas_session=<token>; Path=/; SameSite=Strict; Max-Age=<ttl>`` (+ ``Secure`` on https). It cannot
be HttpOnly (JavaScript writes it); docs/auth.md says what limits that.

The component renders nothing and is mounted on every run (from ui/app.py via
`ui.session.sync_cookie`). To keep tabs from undoing each other it only ever

- writes a token it has not written yet in this tab (right after a sign-in here; a reload that
  adopted the cookie's own token writes nothing), and
- removes the cookie when its current value is one the server knows is dead (revoked at sign-out,
  expired, unknown), so signing out in one tab never deletes another tab's newer login.
"""
from __future__ import annotations

import streamlit as st

from gas.sessions import valid_token

COOKIE_NAME = "gas_session"
KEY = "gas_session_cookie"
MAX_DEAD = 5   # dead tokens remembered per Streamlit session (only the cookie's current one matters)

JS = """
export default function (component) {
  const { data } = component;
  if (!data || !data.name) return;
  const name = data.name;
  const read = () => {
    const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return hit === undefined ? null : hit.slice(name.length + 1);
  };
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  const written = (window.__gasSessionCookie = window.__gasSessionCookie || new Set());
  if (data.token && !written.has(data.token)) {
    written.add(data.token);
    if (read() !== data.token) {
      document.cookie = `${name}=${data.token}; Path=/; SameSite=Strict; Max-Age=${data.max_age}${secure}`;
    }
  }
  const now = read();
  if (now !== null && now !== data.token && (data.dead || []).includes(now)) {
    document.cookie = `${name}=; Path=/; SameSite=Strict; Max-Age=0${secure}`;
  }
}
"""

_component = st.components.v2.component("gas.session_cookie", js=JS)


def payload(token: str | None, max_age: int, dead: list[str]) -> dict[str, object]:
    """What the component gets. Only well-formed tokens (43 URL-safe characters) ever reach the
    page, so nothing can be smuggled into the cookie string."""
    return {"name": COOKIE_NAME, "token": token if valid_token(token) else None, "max_age": int(max_age),
            "dead": [t for t in dead if valid_token(t)][-MAX_DEAD:]}


def render(token: str | None, max_age: int, dead: list[str]) -> None:
    """Mount the cookie component for this run (once per run, under a fixed key)."""
    _component(key=KEY, data=payload(token, max_age, dead), height=0)
