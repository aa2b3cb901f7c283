"""GAS web app: the entry point `streamlit run ui/app.py` (started by `gas up`).

It only decides which pages exist for whoever is looking: the sign-in page for nobody, the
product's pages for a signed-in user (the outbox only on the embedded stack). Each page is its
own module under ui/pages/ and checks the user again itself.
"""
from __future__ import annotations

import streamlit as st

from ui import session

st.set_page_config(page_title="GAS · Genomics Annotation Service", page_icon="🧬", layout="wide")

user = session.current_user()
if user is None:
    pages = [st.Page("pages/signin.py", title="Sign in", icon="🔑", url_path="signin", default=True)]
else:
    pages = [
        st.Page("pages/jobs.py", title="Jobs", icon="📋", url_path="jobs", default=True),
        st.Page("pages/submit.py", title="Submit", icon="⬆️", url_path="submit"),
        st.Page("pages/job.py", title="Job detail", icon="🔎", url_path="job"),
        st.Page("pages/results.py", title="Results", icon="📊", url_path="results"),
        st.Page("pages/account.py", title="Account", icon="👤", url_path="account"),
    ]
    if session.on_embedded_stack():
        pages.append(st.Page("pages/outbox.py", title="Outbox", icon="✉️", url_path="outbox"))
    pages.append(st.Page("pages/signout.py", title="Sign out", icon="🚪", url_path="signout"))
st.navigation(pages).run()
