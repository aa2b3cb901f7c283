"""Account: who is signed in, the plan (from the users table, never a token) and its limits;
free users can upgrade to premium, which restores their archived results. Logic in gas/account.py."""
from __future__ import annotations

import streamlit as st

from gas import account
from ui import live, session

UPGRADED = "account_upgrade_result"

user = session.require_user()
services = session.services()
view = account.account_view(user, services.settings)

st.title("Account")

name, email = st.columns(2)
name.caption("Name")
name.text(view.name)
email.caption("E-mail")
email.text(view.email)
plan, limit = st.columns(2)
plan.metric("Plan", view.plan)
limit.metric("Largest upload", view.upload_limit)

result: account.UpgradeResult | None = st.session_state.pop(UPGRADED, None)
if result is not None:
    (st.success if result.ok else st.error)(result.message)

st.subheader("Premium" if view.premium else "Free plan")
for term in view.plan_terms:
    st.markdown(f"- {term}")  # our own sentences (sizes and durations from Settings)


def upgrade() -> None:
    st.session_state[UPGRADED] = account.upgrade(user.user_id, services.settings,
                                                 jobs=services.jobs, users=services.users)


if view.premium:
    with live.soft_failure("Your restores"):
        restoring = account.restoring_count(services.jobs, user.user_id)
    if restoring:
        st.info(f"{restoring} job(s) are being restored from the archive right now.")
else:
    st.button("Upgrade to premium", type="primary", icon=":material/star:", on_click=upgrade)
    st.caption("This is a demonstration service: upgrading takes no payment.")
