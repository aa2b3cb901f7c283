"""Sign out: the session is revoked server-side (so its cookie is worthless in every tab and
browser at once), this tab forgets the user, and the cookie is removed on the next run."""
from __future__ import annotations

import logging

import streamlit as st

from ui import session

log = logging.getLogger("gas.ui.signout")

try:
    session.sign_out()
except Exception:  # the tab has forgotten the user already; the session expires anyway
    log.exception("could not revoke the session")
st.session_state[session.NOTICE_KEY] = "You are signed out."
st.rerun()
