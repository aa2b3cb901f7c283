"""Submit: the plan's upload limit, the browser-to-S3 upload (ui/components/upload.py) and its
outcome. The page only renders; the checks and the job creation are `gas.submit`'s
(`start_upload` / `finish_upload`, docs/upload.md)."""
from __future__ import annotations

import streamlit as st

from gas.submit import genome_label, human_bytes, upload_limit
from gas.users import Plan
from ui import markdown, session
from ui.components import upload

user = session.require_user()
settings = session.services().settings
limit = upload_limit(user.plan, settings)
premium = upload_limit(Plan.PREMIUM, settings)

st.title("Submit a job")
if user.plan == Plan.PREMIUM:
    st.write(f"Premium plan: files up to {human_bytes(limit)}.")
else:
    st.write(f"Free plan: files up to {human_bytes(limit)}; upgrade to premium for up to {human_bytes(premium)}.")
st.caption(f"Genome: {genome_label(settings.genome)} · Input: a VCF (`.vcf`), plain or gzip/bgzip-compressed "
           "(`.vcf.gz`). The file goes straight from your browser to storage; it is checked before a job "
           "is created.")

state = upload.uploader(user, session.current_user, hint=f"VCF or VCF.gz, up to {human_bytes(limit)}")
if state["job"]:
    job_id = state["job"]["job_id"]
    st.success(f"Job {job_id} submitted.", icon=":material/check_circle:")
    st.text(f"Input file: {state['job']['input_file']}")
    go_job, go_jobs = st.columns(2)
    with go_job:
        st.page_link("views/job.py", label="Open the job", icon=":material/search:", query_params={"job": job_id})
    with go_jobs:
        st.page_link("views/jobs.py", label="All your jobs", icon=":material/list_alt:")
if state["error"]:
    st.error(markdown.escape(state["error"]), icon=":material/error:")
    if state["retry"]:
        st.button("Try again", key="gas_upload_retry",
                  on_click=lambda: upload.confirm(state, session.current_user()))
