"""GAS web app: the entry point `streamlit run ui/app.py` (started by `gas up`).

It only decides which pages exist for whoever is looking: the sign-in page for nobody, the
product's pages for a signed-in user (the outbox only on the embedded stack). Each page is its
own module under ui/views/ and checks the user again itself.
"""
from __future__ import annotations

import streamlit as st

from ui import session

st.set_page_config(page_title="GAS · Genomics Annotation Service", page_icon="🧬", layout="wide")

user = session.current_user()
session.sync_cookie()  # writes/removes the gas_session cookie, so a login survives a reload and a new tab
if user is None:
    pages = [st.Page("views/signin.py", title="Sign in", icon=":material/login:", url_path="signin", default=True)]
else:
    pages = [
        st.Page("views/jobs.py", title="Jobs", icon=":material/list_alt:", url_path="jobs", default=True),
        st.Page("views/submit.py", title="Submit", icon=":material/upload_file:", url_path="submit"),
        st.Page("views/job.py", title="Job detail", icon=":material/search:", url_path="job"),
        st.Page("views/results.py", title="Results", icon=":material/table_chart:", url_path="results"),
        st.Page("views/account.py", title="Account", icon=":material/person:", url_path="account"),
    ]
    if session.on_embedded_stack():
        pages.append(st.Page("views/outbox.py", title="Outbox", icon=":material/mail:", url_path="outbox"))
    pages.append(st.Page("views/signout.py", title="Sign out", icon=":material/logout:", url_path="signout"))
st.navigation(pages).run()
