"""Results: one completed job's variants, filtered, sorted, paged, charted and exported.

A thin shell over `gas.results`. The job comes from `?job=` or the picker of the user's completed
jobs; `gas.results.locate` checks ownership (another user's job looks exactly like a missing one)
and the job's state on every run, and only then is the parsed table taken from the cache, whose
key starts with the user id and the object's ETag. The browser receives one page of rows
(PAGE_SIZE), never the whole table. Exports are built only when a download button is clicked.
"""
from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import streamlit as st

from gas import results as R
from gas import storage
from gas.jobs import ResultsState, Status
from gas.users import Plan
from ui import markdown, session

PAGE_SIZE = 1000
JOB_PICKER_LIMIT = 200
FILTER_KEYS = ("results_f_consequences", "results_f_impacts", "results_f_chromosomes", "results_f_genes",
               "results_f_text", "results_f_sort", "results_f_desc", "results_page")
FILE_ORDER = "(file order)"
IMPACT_COLOURS = {"HIGH": "#d62728", "MODERATE": "#ff7f0e", "LOW": "#2ca02c", "MODIFIER": "#7f7f7f",
                  R.NONE_LABEL: "#c7c7c7"}
NO_SUCH_JOB = "No such job. Check the link, or pick one of your completed jobs above."


# Every cached function takes the user id first and is only called after `R.locate` returned the
# job for that user, so an entry made for one user can never be served to another.

@st.cache_data(ttl=15, show_spinner=False)
def completed_jobs(user_id: str) -> list[tuple[str, str]]:
    """(job_id, label) of the user's newest completed jobs (a Query on their own partition)."""
    out = []
    for job in session.services().jobs.iter_for_user(user_id):
        if job.status != Status.COMPLETED:
            continue
        state = "" if job.results_state == ResultsState.AVAILABLE else f" ({job.results_state.value})"
        variants = f"{job.variants:,} variants" if job.variants is not None else "variants: ?"
        when = job.submitted_at[:16].replace("T", " ")
        out.append((job.job_id, f"{job.input_file} · {when} UTC · {variants}{state}"))
        if len(out) >= JOB_PICKER_LIMIT:
            break
    return out


@st.cache_resource(max_entries=2, ttl=3600, show_spinner=False)  # ~185 MB per 1M-row table
def cached_table(user_id: str, job_id: str, etag: str, _ref: R.ResultRef) -> pa.Table:
    return R.read_table(R.local_copy(_ref, settings=session.services().settings))


@st.cache_resource(max_entries=3, ttl=3600, show_spinner=False)
def cached_options(user_id: str, job_id: str, etag: str, _table: pa.Table) -> dict[str, list[str]]:
    return R.options(_table)


@st.cache_resource(max_entries=4, ttl=1800, show_spinner=False)
def cached_view(user_id: str, job_id: str, etag: str, filters_key: str, _table: pa.Table,
                _filters: R.Filters) -> R.View:
    return R.select(_table, _filters)  # row numbers into the cached table, not a copy


@st.cache_resource(max_entries=8, ttl=1800, show_spinner=False)
def cached_summaries(user_id: str, job_id: str, etag: str, filters_key: str,
                     _view: R.View) -> dict[str, list[tuple[str, int]]]:
    return R.summaries(_view)  # computed after the table is drawn: the charts come second


def pick_job(user_id: str) -> str | None:
    """The job to show: `?job=` wins; else the picker (which writes its choice to `?job=`)."""
    jobs = completed_jobs(user_id)
    labels = dict(jobs)
    ids = [j for j, _ in jobs]
    wanted = session.query_job_id()
    if not ids and not wanted:
        st.info("No completed jobs yet. Submit a VCF on the Submit page; its variants appear here "
                "once it is annotated.")
        st.stop()
    if wanted in labels:
        st.session_state["results_job"] = wanted
    elif wanted:
        st.session_state.pop("results_job", None)

    def on_pick() -> None:
        picked = st.session_state.get("results_job")
        if picked:
            st.query_params["job"] = picked
            st.query_params.pop("id", None)

    st.selectbox("Job", ids, index=None, format_func=lambda j: labels.get(j, j), key="results_job",
                 on_change=on_pick, placeholder="Choose a completed job")
    return wanted or st.session_state.get("results_job")


def filters_form(opts: dict[str, list[str]]) -> R.Filters:
    with st.form("results_filters", border=True):
        c1, c2, c3 = st.columns(3)
        csq = c1.multiselect("Consequence", opts["consequences"], key="results_f_consequences",
                             help="A variant matches if any of its `&`-joined SO terms is selected.")
        impacts = c2.multiselect("Impact", opts["impacts"], key="results_f_impacts")
        chroms = c3.multiselect("Chromosome", opts["chromosomes"], key="results_f_chromosomes")
        genes = c1.text_input("Genes", key="results_f_genes", placeholder="e.g. BRCA1, TP53 or ENSG ids",
                              help="Exact gene symbols or gene ids, separated by commas or spaces.")
        text = c2.text_input("Search", key="results_f_text", max_chars=R.MAX_TEXT,
                             placeholder="rsID, gene, transcript, HGVS, consequence",
                             help="Case-insensitive substring of id, gene, gene_id, transcript, "
                                  "hgvs_c, hgvs_p or consequence.")
        sort = c3.selectbox("Sort all matching rows by", (FILE_ORDER, *R.SORTABLE), key="results_f_sort")
        desc = c3.toggle("Descending", key="results_f_desc")
        st.form_submit_button("Apply")
    return R.Filters(consequences=tuple(csq), impacts=tuple(impacts), chromosomes=tuple(chroms),
                     genes=R.Filters.parse_genes(genes), text=text,
                     sort=None if sort == FILE_ORDER else sort, descending=desc)


def show_table(view: R.View, total: int, stem: str) -> None:
    rows = view.num_rows
    pages = R.page_count(rows, PAGE_SIZE)
    if st.session_state.get("results_page", 1) > pages:
        st.session_state["results_page"] = 1
    left, right = st.columns([3, 1])
    page_no = right.number_input("Page", min_value=1, max_value=pages, step=1, key="results_page")
    first = (int(page_no) - 1) * PAGE_SIZE
    shown = R.page(view, first, PAGE_SIZE)
    left.markdown(f"**{rows:,}** matching variants of {total:,} · rows {first + 1:,}–{first + shown.num_rows:,} "
                  f"· page {int(page_no)} of {pages:,}")
    st.dataframe(shown.to_pandas(), hide_index=True, height=420,
                 column_config={"pos": st.column_config.NumberColumn("pos", format="%d"),
                                "line": st.column_config.NumberColumn("line", format="%d")})
    st.caption("Sorting by a column header reorders only this page; use *Sort all matching rows by* "
               "to sort every matching variant.")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button(f"CSV ({rows:,} rows)", data=lambda: R.to_csv_bytes(view.table()), file_name=f"{stem}.csv",
                       mime="text/csv", on_click="ignore", key="results_dl_csv")
    c2.download_button(f"Parquet ({rows:,} rows)", data=lambda: R.to_parquet_bytes(view.table()),
                       file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet",
                       on_click="ignore", key="results_dl_parquet")


def show_charts(summaries: dict[str, list[tuple[str, int]]]) -> None:
    import altair as alt  # imported here, after the table is drawn: ~0.5 s on a process's first visit
    csq = pd.DataFrame(summaries["consequence"], columns=["consequence", "variants"])
    imp = pd.DataFrame(summaries["impact"], columns=["impact", "variants"])
    chrom = pd.DataFrame(summaries["chromosome"], columns=["chromosome", "variants"])
    c1, c2 = st.columns([3, 2])
    with c1:
        st.subheader("Most severe consequence")
        st.altair_chart(alt.Chart(csq).mark_bar().encode(
            x=alt.X("variants:Q", title="variants"),
            y=alt.Y("consequence:N", sort=list(csq["consequence"]), title=None),
            tooltip=["consequence", alt.Tooltip("variants:Q", format=",")]), width="stretch")
    with c2:
        st.subheader("Impact")
        domain = list(imp["impact"])
        st.altair_chart(alt.Chart(imp).mark_bar().encode(
            x=alt.X("impact:N", sort=domain, title=None),
            y=alt.Y("variants:Q", title="variants"),
            color=alt.Color("impact:N", legend=None, scale=alt.Scale(
                domain=domain, range=[IMPACT_COLOURS.get(i, "#9467bd") for i in domain])),
            tooltip=["impact", alt.Tooltip("variants:Q", format=",")]), width="stretch")
    st.subheader("Variants per chromosome")
    st.altair_chart(alt.Chart(chrom).mark_bar().encode(
        x=alt.X("chromosome:N", sort=list(chrom["chromosome"]), title=None),
        y=alt.Y("variants:Q", title="variants"),
        tooltip=["chromosome", alt.Tooltip("variants:Q", format=",")]), width="stretch")


def refuse(exc: R.ResultsUnavailable, plan: Plan) -> None:
    """Why these results cannot be shown (user-controlled text in the reason is escaped); stops the page."""
    if str(exc) == R.ARCHIVED_MESSAGE and plan == Plan.PREMIUM:  # archived before the upgrade
        st.info("These results are archived and are being restored now that you are on premium; "
                "they open here once the restore is done.")
    elif str(exc) == R.ARCHIVED_MESSAGE:
        st.warning("These results are archived; upgrade to premium to restore them (Account page).")
    else:
        st.error(markdown.escape(exc))
    st.stop()


# ----------------------------------------------------------------------------- the page

user = session.require_user()
st.title("Results")
job_id = pick_job(user.user_id)
if not job_id:
    st.stop()

try:
    ref = R.locate(session.services().jobs, user.user_id, job_id, settings=session.services().settings)
except R.NoSuchJob:
    st.error(NO_SUCH_JOB)
    st.stop()
except R.ResultsUnavailable as exc:
    refuse(exc, user.plan)

if st.session_state.get("results_loaded_job") != ref.job.job_id:  # another job: fresh filters
    for k in FILTER_KEYS:
        st.session_state.pop(k, None)
    st.session_state["results_loaded_job"] = ref.job.job_id

job = ref.job
st.caption(markdown.escape(f"{job.input_file} · {job.genome} · job {job.job_id} · completed "
              f"{(job.completed_at or '')[:16].replace('T', ' ')} UTC"))
try:
    with st.spinner("Loading results…"):
        table = cached_table(user.user_id, job.job_id, ref.etag, ref)
        opts = cached_options(user.user_id, job.job_id, ref.etag, table)
except R.ResultsUnavailable as exc:  # archived or deleted between the HEAD and the GET
    refuse(exc, user.plan)

filters = filters_form(opts)
filters_key = repr(filters)
if st.session_state.get("results_filters_key") != filters_key:  # new filters: back to page 1
    st.session_state["results_filters_key"] = filters_key
    st.session_state["results_page"] = 1
with st.spinner("Filtering…"):
    view = cached_view(user.user_id, job.job_id, ref.etag, filters_key, table, filters)

if table.num_rows == 0:
    st.info("This job produced no variants.")
    st.stop()
if view.num_rows == 0:
    st.info("No variant matches these filters. Remove a filter or change the search text.")
    st.stop()

stem = storage.safe_filename(re.sub(r"(\.vcf)?(\.gz|\.bgz)?$", "", job.input_file) or "results")
show_table(view, table.num_rows, f"{stem}{'-filtered' if filters.active else ''}")
show_charts(cached_summaries(user.user_id, job.job_id, ref.etag, filters_key, view))
