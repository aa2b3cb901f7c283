"""Job detail: status and progress (refreshing while the job runs), timeline, input, the failure
reason, the run log and a short-lived download link for every output; archived or restoring
results with the offer to upgrade. The job comes from `?job=` (or `?id=`, the e-mail's link) and
is shown only to its owner (`gas.downloads.owned_job`); logic in gas/downloads.py, gas/timeline.py."""
from __future__ import annotations

import streamlit as st

from gas import downloads
from gas.joblist import ACTIVE, RESULTS_LABEL, STATUS_LABEL
from gas.jobs import Job, ResultsState, Status
from gas.submit import human_bytes
from gas.timeline import restore_promise, timeline_rows, zone_name
from gas.users import Plan
from ui import live, session

RUNNING_REFRESH_S = 3
RESTORING_REFRESH_S = 30

user = session.require_user()
services = session.services()
settings = services.settings
tz = st.context.timezone

st.title("Job detail")
st.page_link("views/jobs.py", label="Your jobs", icon=":material/list_alt:")

LAST_JOB = "job_page_last_job_id"  # the sidebar's "Job detail" (no query) reopens the last job seen

job_id = session.query_job_id() or st.session_state.get(LAST_JOB)
if not job_id:
    st.info("No job chosen. Pick one from your jobs list.")
    st.stop()


def load() -> Job:
    return downloads.owned_job(services.jobs, job_id, user.user_id)


def every(job: Job) -> float | None:
    if job.status in ACTIVE:
        return RUNNING_REFRESH_S
    if job.results_state == ResultsState.RESTORING or (
            job.results_state == ResultsState.ARCHIVED and user.plan == Plan.PREMIUM):
        return RESTORING_REFRESH_S  # the thaw is on its way: minutes to hours
    return None


def render(job: Job) -> None:
    status, progress, variants, results = st.columns(4)
    status.metric("Status", STATUS_LABEL[job.status])
    progress.metric("Progress", f"{job.progress:.0%}")
    variants.metric("Variants", "—" if job.variants is None else f"{job.variants:,}")
    results.metric("Results", RESULTS_LABEL[job.results_state] or "—")
    if job.status in ACTIVE:
        st.progress(job.progress, text="Annotating…" if job.status == Status.RUNNING else "Waiting for a worker…")
    inputs, ident = st.columns((3, 2))
    inputs.caption("Input file")
    inputs.text(f"{job.input_file}  ·  {human_bytes(job.input_size)}  ·  {job.genome}")
    ident.caption("Job id")
    ident.code(job.job_id, language=None)
    st.subheader("Timeline")
    st.dataframe(timeline_rows(job, tz), hide_index=True,
                 column_config={"event": "Event", "when": f"When ({zone_name(tz)})", "detail": "Detail"})
    if job.status == Status.FAILED:
        st.error("This job failed. The reason:")
        st.code(job.error or "no reason was recorded", language=None, wrap_lines=True)


try:
    job = live.live("job", load, render, every)
except downloads.NoSuchJob:
    st.session_state.pop(LAST_JOB, None)
    st.error(downloads.NO_SUCH_JOB)
    st.stop()
st.session_state[LAST_JOB] = job.job_id


def render_downloads(found: downloads.Downloads) -> None:
    for out in found.outputs:
        name, kind, size, link = st.columns((4, 3, 1, 1), vertical_alignment="center")
        name.text(out.name)
        kind.caption(out.kind)
        size.caption(human_bytes(out.size) if out.size is not None else "missing")
        if out.url:
            link.link_button("Download", out.url, key=f"dl-{out.name}")
    if found.outputs and not found.unavailable:
        st.caption(f"Links are valid for {found.ttl_s // 60} minutes and are renewed while this page is open.")


if job.status == Status.COMPLETED:
    st.subheader("Results")
    if job.results_state == ResultsState.ARCHIVED:
        if user.plan == Plan.PREMIUM:
            st.info("These results are archived and are being sent for restoring. "
                    "This page updates when they are back.")
        else:
            st.warning("These results are archived in cold storage (free plan), so they cannot be downloaded. "
                       "Upgrade to premium and they are restored, usually within minutes.")
            st.page_link("views/account.py", label="Upgrade to premium", icon=":material/star:")
    elif job.results_state == ResultsState.RESTORING:
        st.info(f"These results are being restored from the archive ({restore_promise(job)}). "
                "The download links appear here when they are back.")
    # Re-read the job on every renewal: results archived meanwhile lose their links (and the
    # changed interval triggers a full rerun that shows the archived state).
    found = live.live("downloads", lambda: downloads.downloads(load(), user.user_id, settings), render_downloads,
                      every=lambda d: None if d.unavailable or not d.outputs else max(30, d.ttl_s * 4 // 5))
    if not found.unavailable:
        st.subheader("Run log")
        with live.soft_failure("The run log"):
            log = downloads.run_log(job, user.user_id, settings)
        if log is None:
            st.caption("No run log was kept for this job.")
        else:
            if log.truncated:
                st.caption(f"The last {len(log.text.encode()):,} of {log.size:,} bytes; download the log for all of it.")
            st.code(log.text, language=None, height=360)
