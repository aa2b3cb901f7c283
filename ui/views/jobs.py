"""Jobs: the signed-in user's jobs, newest first, 50 a page; refreshes itself while any shown
job is pending or running. Rows come from `gas.joblist` (one Query on the user's own partition)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from gas import joblist
from gas.timeline import zone_name
from ui import live, session

REFRESH_S = 3
CURSORS = "jobs_cursors"  # the cursor of every page from the newest to the one shown

user = session.require_user()
services = session.services()
tz = st.context.timezone
cursors: list[str | None] = st.session_state.setdefault(CURSORS, [None])

st.title("Your jobs")


def load() -> joblist.JobListPage:
    page = joblist.list_page(services.jobs, user.user_id, cursors[-1])
    if page.restarted:
        cursors[:] = [None]
    return page


def older(cursor: str) -> None:
    cursors.append(cursor)


def newer() -> None:
    if len(cursors) > 1:
        cursors.pop()


def newest() -> None:
    cursors[:] = [None]


def render(page: joblist.JobListPage) -> None:
    if not page.jobs:
        if len(cursors) > 1:
            st.info("No older jobs.")
            st.button("Newest jobs", on_click=newest)
            return
        st.info("You have no jobs yet. Submit a VCF file and its annotation shows up here.")
        st.page_link("views/submit.py", label="Submit a VCF file", icon=":material/upload_file:")
        return
    df = pd.DataFrame(page.rows(tz), columns=list(joblist.COLUMNS))
    event = st.dataframe(
        df, hide_index=True, on_select="rerun", selection_mode="single-row", key="jobs_table",
        # what matters first, so a laptop-width table needs no scrolling for it; px widths
        column_order=("input", "status", "progress", "submitted", "completed", "variants", "results", "open"),
        column_config={
            "input": st.column_config.TextColumn("Input file", width=180),
            "status": st.column_config.TextColumn("Status", width=85),
            "progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent",
                                                        width=110),
            "submitted": st.column_config.TextColumn("Submitted", width=125),
            "completed": st.column_config.TextColumn("Finished", width=125),
            "variants": st.column_config.NumberColumn("Variants", format="localized", width=80),
            "results": st.column_config.TextColumn("Results", width=85),
            "open": st.column_config.LinkColumn(  # shows the id's last 8 characters (its random part)
                "Job", display_text=r"job\?job=\w{24}(\w{8})", width=80,
                help="Open the job in a new tab (or select its row)"),
        })
    rows = event.selection.rows if event is not None else []
    if rows:
        st.switch_page("views/job.py", query_params={"job": page.jobs[rows[0]].job_id})
    first = (len(cursors) - 1) * joblist.PAGE_SIZE + 1
    st.caption(f"Jobs {first:,}–{first + len(page.jobs) - 1:,}, newest first. Times are {zone_name(tz)}."
               + (" Updating every few seconds while jobs are running." if page.active else ""))
    left, right = st.columns(2)
    if len(cursors) > 1:
        left.button("← Newer jobs", on_click=newer)
    if page.cursor:
        right.button("Older jobs →", on_click=older, args=(page.cursor,))


live.live("jobs", load, render, every=lambda page: REFRESH_S if page.active else None)
