"""The results page (ui/views/results.py) with AppTest against in-process moto: the owner sees the
table, filters narrow it, another user's job and a missing one get the same refusal, archived
results are refused, and the empty states say so."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gas import storage
from gas.jobs import ResultsState, new_job
from gas.store import JobStore
from gas.users import UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

PAGE = str(Path(__file__).resolve().parents[2] / "ui" / "views" / "results.py")
SCHEMA = pa.schema([("chrom", pa.string()), ("pos", pa.int64()), ("id", pa.string()), ("ref", pa.string()),
                    ("alt", pa.string()), ("variant_type", pa.string()), ("consequence", pa.string()),
                    ("impact", pa.string()), ("gene", pa.string()), ("gene_id", pa.string()),
                    ("transcript", pa.string()), ("biotype", pa.string()), ("hgvs_c", pa.string()),
                    ("hgvs_p", pa.string())])
ROWS = [
    ("1", 100, "rs1", "A", "G", "SNV", "missense_variant", "MODERATE", "TP53", "ENSG1", "ENST1.1",
     "protein_coding", "ENST1.1:c.1A>G", "ENSP1.1:p.Met1Val"),
    ("1", 200, ".", "C", "T", "SNV", "intron_variant", "MODIFIER", "TP53", "ENSG1", "ENST1.1",
     "protein_coding", "ENST1.1:c.5+3C>T", ""),
    ("X", 300, "rs3", "G", "A", "SNV", "stop_gained&splice_region_variant", "HIGH", "DMD", "ENSG3", "ENST3.1",
     "protein_coding", "ENST3.1:c.9G>A", "ENSP3.1:p.Trp3Ter"),
    # user-controlled text: must come out as text, never as markup
    ("2", 400, "<img src=x onerror=alert(1)>", "T", "C", "SNV", "intergenic_variant", "MODIFIER", "", "", "",
     "", "", ""),
]


def result_table() -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r)) for r in ROWS], schema=SCHEMA)


@pytest.fixture
def world(gas_aws, tmp_path, monkeypatch):
    monkeypatch.setenv("GAS_RESULTS_CACHE_DIR", str(tmp_path / "cache"))
    st.cache_data.clear()
    st.cache_resource.clear()
    users, jobs = UserStore(gas_aws.settings), JobStore(gas_aws.settings)
    alice = users.add("alice", "alice@example.org")
    bob = users.add("bob", "bob@example.org")

    def completed(user, name: str = "sample", table: pa.Table | None = None, state=ResultsState.AVAILABLE):
        job = new_job(user_id=user.user_id, input_file=f"{name}.vcf.gz", input_key="x", input_size=10,
                      genome="GRCh38")
        job = job.model_copy(update={"input_key": storage.input_key(user.user_id, job.job_id, f"{name}.vcf.gz")})
        assert jobs.create(job)
        assert jobs.claim(job.job_id, "w1")
        keys = [storage.result_key(user.user_id, job.job_id, f"{name}{s}")
                for s in (".parquet", ".transcripts.parquet", ".log")]
        buf = io.BytesIO()
        pq.write_table(table if table is not None else result_table(), buf)
        gas_aws.s3.put_object(Bucket=gas_aws.settings.results_bucket, Key=keys[0], Body=buf.getvalue())
        done = jobs.complete(job.job_id, "w1", len(ROWS), keys)
        assert done is not None
        if state == ResultsState.ARCHIVED:
            storage.move_to_glacier(gas_aws.settings.results_bucket, keys[0], s3=gas_aws.s3)
            done = jobs.set_results_state(job.job_id, ResultsState.AVAILABLE, ResultsState.ARCHIVED,
                                          archived_at=done.completed_at)
        return done

    return {"alice": alice, "bob": bob, "completed": completed, "jobs": jobs, "aws": gas_aws}


def app(user, job_id: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["user_id"] = user.user_id
    if job_id:
        at.query_params["job"] = job_id
    return at.run()


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("error", "warning", "info", "markdown", "caption") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def shown(at: AppTest) -> list[tuple[str, int]]:
    assert not at.exception, at.exception
    df = at.dataframe[0].value
    return list(zip(df["chrom"], df["pos"]))


def apply_filters(at: AppTest) -> AppTest:
    return at.button(key="FormSubmitter:results_filters-Apply").click().run()


def test_owner_sees_the_table_counts_charts_and_exports(world):
    job = world["completed"](world["alice"])
    at = app(world["alice"], job.job_id)
    assert shown(at) == [("1", 100), ("1", 200), ("X", 300), ("2", 400)]
    df = at.dataframe[0].value
    assert df.loc[3, "id"] == "<img src=x onerror=alert(1)>"  # a cell value, not HTML
    assert "4** matching variants of 4" in texts(at)
    assert len(at.get("vega_lite_chart")) == 3
    assert [b.label for b in at.get("download_button")] == ["CSV (4 rows)", "Parquet (4 rows)"]
    # filter options come from the data, in meaningful order
    assert at.multiselect(key="results_f_chromosomes").options == ["1", "2", "X"]
    assert at.multiselect(key="results_f_impacts").options == ["HIGH", "MODERATE", "MODIFIER"]
    assert at.multiselect(key="results_f_consequences").options[:2] == ["stop_gained", "missense_variant"]


def test_filters_narrow_the_rows_and_sort_all_of_them(world):
    job = world["completed"](world["alice"])
    at = app(world["alice"], job.job_id)
    at.multiselect(key="results_f_impacts").set_value(["HIGH", "MODERATE"])
    at = apply_filters(at)
    assert shown(at) == [("1", 100), ("X", 300)]
    assert "2** matching variants of 4" in texts(at)
    assert [b.label for b in at.get("download_button")] == ["CSV (2 rows)", "Parquet (2 rows)"]

    at.multiselect(key="results_f_impacts").set_value([])
    at.multiselect(key="results_f_consequences").set_value(["splice_region_variant"])  # 2nd of a joined pair
    at = apply_filters(at)
    assert shown(at) == [("X", 300)]

    at.multiselect(key="results_f_consequences").set_value([])
    at.text_input(key="results_f_genes").input("tp53")
    at.selectbox(key="results_f_sort").set_value("pos")
    at.toggle(key="results_f_desc").set_value(True)
    at = apply_filters(at)
    assert shown(at) == [("1", 200), ("1", 100)]

    at.text_input(key="results_f_genes").input("")
    at.text_input(key="results_f_text").input("P.TRP3")
    at = apply_filters(at)
    assert shown(at) == [("X", 300)]


def test_filter_matching_nothing_says_so(world):
    job = world["completed"](world["alice"])
    at = app(world["alice"], job.job_id)
    at.text_input(key="results_f_text").input("no-such-thing")
    at = apply_filters(at)
    assert not at.exception and not at.dataframe
    assert "No variant matches these filters" in texts(at)


def test_another_users_job_looks_like_a_missing_one(world):
    bobs = world["completed"](world["bob"], "secret")
    at_other = app(world["alice"], bobs.job_id)
    at_missing = app(world["alice"], "f" * 32)
    at_garbage = app(world["alice"], "../../bob")
    for at in (at_other, at_missing, at_garbage):
        assert not at.exception and not at.dataframe
        assert [e.value for e in at.error] == [at_missing.error[0].value]
        assert "No such job" in at.error[0].value
    assert "secret" not in texts(at_other) and bobs.job_id not in texts(at_other)
    # bob's parquet was never fetched on alice's behalf
    assert not list(Path(os.environ["GAS_RESULTS_CACHE_DIR"]).rglob("*.parquet"))


def test_a_cached_table_is_never_served_to_another_user(world):
    job = world["completed"](world["alice"])
    assert shown(app(world["alice"], job.job_id))  # alice's table is now in the caches
    at = app(world["bob"], job.job_id)
    assert not at.dataframe and "No such job" in at.error[0].value


def test_a_failed_job_is_refused_with_its_reason_as_plain_text(world):
    jobs = world["jobs"]
    job = new_job(user_id=world["alice"].user_id, input_file="bad.vcf", input_key="k", input_size=1)
    jobs.create(job)
    jobs.fail(job.job_id, "line 3: [click](http://evil.example) ![x](http://evil.example/i.png)")
    at = app(world["alice"], job.job_id)
    assert not at.exception and not at.dataframe
    message = at.error[0].value
    assert "FAILED" in message and "\\[click\\]\\(http" in message and "\\!\\[x\\]" in message


def test_archived_results_are_refused(world):
    job = world["completed"](world["alice"], state=ResultsState.ARCHIVED)
    at = app(world["alice"], job.job_id)
    assert not at.exception and not at.dataframe
    assert "archived; upgrade to premium to restore them" in texts(at)


def test_archived_results_of_a_premium_user_are_said_to_be_restoring(world):
    carol = UserStore(world["aws"].settings).add("carol", "carol@example.org", "premium")
    job = world["completed"](carol, state=ResultsState.ARCHIVED)
    at = app(carol, job.job_id)
    assert not at.exception and not at.dataframe and not at.warning
    assert "being restored" in at.info[0].value


def test_picker_lists_only_completed_jobs_and_opens_one(world):
    job = world["completed"](world["alice"], "mine")
    world["completed"](world["bob"], "theirs")
    pending = new_job(user_id=world["alice"].user_id, input_file="waiting.vcf", input_key="k", input_size=1)
    world["jobs"].create(pending)
    at = app(world["alice"])
    picker = at.selectbox(key="results_job")
    assert picker.options and len(picker.options) == 1 and "mine.vcf.gz" in picker.options[0]
    assert not at.dataframe
    at = picker.set_value(job.job_id).run()
    assert shown(at) == [("1", 100), ("1", 200), ("X", 300), ("2", 400)]
    assert at.query_params["job"] == job.job_id


def test_no_completed_jobs_yet(world):
    at = app(world["alice"])
    assert not at.exception and not at.dataframe
    assert "No completed jobs yet" in texts(at)


def test_paging_shows_one_page_at_a_time(world, monkeypatch):
    big = pa.Table.from_pylist([dict(zip(SCHEMA.names, ("3", i, ".", "A", "C", "SNV", "intron_variant",
                                                        "MODIFIER", "G", "E", "T", "protein_coding", "", "")))
                                for i in range(1, 2502)], schema=SCHEMA)
    job = world["completed"](world["alice"], "big", table=big)
    at = app(world["alice"], job.job_id)
    assert len(at.dataframe[0].value) == 1000 and at.dataframe[0].value["pos"].iloc[0] == 1
    assert "page 1 of 3" in texts(at)
    at = at.number_input(key="results_page").set_value(3).run()
    df = at.dataframe[0].value
    assert len(df) == 501 and df["pos"].iloc[0] == 2001 and df["pos"].iloc[-1] == 2501
    # a new filter goes back to page 1
    at.selectbox(key="results_f_sort").set_value("pos")
    at.toggle(key="results_f_desc").set_value(True)
    at = apply_filters(at)
    assert at.dataframe[0].value["pos"].iloc[0] == 2501 and "page 1 of 3" in texts(at)
