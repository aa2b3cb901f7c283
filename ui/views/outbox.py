"""Outbox (embedded stack only): the e-mails the local stack "sent" to the signed-in user, newest
first. Other users' mail is theirs: only messages addressed to this user's e-mail are read
(`gas.local.outbox.mailbox`). Subjects and bodies are shown as plain text, never as HTML."""
from __future__ import annotations

import os

import streamlit as st

from gas.local.outbox import mailbox
from gas.timeline import local_time, zone_name
from ui import session

user = session.require_user()
tz = st.context.timezone

st.title("Outbox")
data_dir = os.environ.get("GAS_LOCAL_DATA_DIR")
if not session.on_embedded_stack() or not data_dir:
    st.info("The outbox exists only on the local stack (`gas up`). On AWS, e-mail goes to your inbox.")
    st.stop()

st.caption(f"E-mail the local stack would have sent you, newest first. Times are {zone_name(tz)}.")
messages = mailbox(data_dir, user.email)
if not messages:
    st.info("No e-mail for you yet. You get one when a job finishes.")
for message in messages:
    with st.container(border=True):
        st.caption(local_time(message["date"], tz) or "date unknown")
        st.text(message["subject"] or "(no subject)")
        st.code(message["text"], language=None, wrap_lines=True)
