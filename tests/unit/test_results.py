"""gas.results on a hand-made table whose answers are known: filters, sort, paging, summaries, exports,
the state checks, and the local download cache (with a fake S3 client)."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from gas import results as R
from gas.jobs import Job, ResultsState, Status

COLUMNS = ("chrom", "pos", "id", "ref", "alt", "consequence", "impact", "gene", "gene_id", "transcript",
           "biotype", "hgvs_c", "hgvs_p")
ROWS = [
    # chrom pos  id       ref alt consequence                              impact      gene    gene_id  transcript biotype           hgvs_c              hgvs_p
    ("2",   50, "rs1",    "A", "G", "missense_variant&splice_region_variant", "MODERATE", "TP53", "ENSG1", "ENST1.1", "protein_coding", "ENST1.1:c.10A>G", "ENSP1.1:p.Arg4Gly"),
    ("10",  20, ".",      "C", "T", "intron_variant",                      "MODIFIER", "BRCA1", "ENSG2", "ENST2.3", "protein_coding", "ENST2.3:c.5+3C>T", ""),
    ("X",   5,  "rs22",   "G", "A", "stop_gained",                         "HIGH",     "DMD",   "ENSG3", "ENST3.1", "protein_coding", "ENST3.1:c.9G>A",  "ENSP3.1:p.Trp3Ter"),
    ("1",   99, ".",      "T", "C", "intergenic_variant",                  "MODIFIER", "",      "",      "",        "",               "",                ""),
    ("MT",  7,  "rs333",  "A", "T", "synonymous_variant",                  "LOW",      "MT-ND1", "ENSG4", "ENST4.1", "protein_coding", "ENST4.1:c.3A>T",  "ENSP4.1:p.Leu1="),
    ("1",   10, ".",      "A", "AT", "splice_region_variant&intron_variant", "LOW",    "tp53",  "ENSG5", "ENST5.2", "lncRNA",         "",                ""),
    ("GL000192.1", 3, ".", "A", "C", "",                                   "",         "",      "",      "",        "",               "",                ""),
    ("2",   40, "rs4444", "C", "G", "missense_variant",                    "MODERATE", "TP53",  "ENSG1", "ENST1.1", "protein_coding", "ENST1.1:c.7C>G",  "ENSP1.1:p.Pro3Ala"),
]


@pytest.fixture
def table() -> pa.Table:
    cols = list(zip(*ROWS))
    return pa.table({name: pa.array(list(values), pa.int64() if name == "pos" else pa.string())
                     for name, values in zip(COLUMNS, cols)})


def ids(t: pa.Table) -> list[tuple[str, int]]:
    return list(zip(t.column("chrom").to_pylist(), t.column("pos").to_pylist()))


# ----------------------------------------------------------------------------- filters

def test_no_filter_keeps_everything_in_file_order(table):
    out = R.apply(table, R.Filters())
    assert ids(out) == ids(table) and not R.Filters().active


def test_consequence_term_matches_any_of_the_joined_terms(table):
    out = R.apply(table, R.Filters(consequences=("splice_region_variant",)))
    assert ids(out) == [("2", 50), ("1", 10)]
    out = R.apply(table, R.Filters(consequences=("missense_variant", "stop_gained")))
    assert ids(out) == [("2", 50), ("X", 5), ("2", 40)]
    # a term is a whole term, not a substring ("variant" matches nothing)
    assert R.apply(table, R.Filters(consequences=("variant",))).num_rows == 0
    assert ids(R.apply(table, R.Filters(consequences=(R.NONE_LABEL,)))) == [("GL000192.1", 3)]


def test_impact_chromosome_and_gene_filters_combine_with_and(table):
    assert ids(R.apply(table, R.Filters(impacts=("HIGH", "LOW")))) == [("X", 5), ("MT", 7), ("1", 10)]
    assert ids(R.apply(table, R.Filters(chromosomes=("1",)))) == [("1", 99), ("1", 10)]
    # gene symbols and ids, case-insensitive, exact (TP53 is not TP5)
    assert ids(R.apply(table, R.Filters(genes=("tp53",)))) == [("2", 50), ("1", 10), ("2", 40)]
    assert ids(R.apply(table, R.Filters(genes=("ENSG3", "brca1")))) == [("10", 20), ("X", 5)]
    assert R.apply(table, R.Filters(genes=("TP5",))).num_rows == 0
    both = R.Filters(genes=("TP53",), impacts=("MODERATE",), chromosomes=("2",))
    assert ids(R.apply(table, both)) == [("2", 50), ("2", 40)]
    assert R.apply(table, R.Filters(genes=("TP53",), chromosomes=("X",))).num_rows == 0


def test_free_text_searches_ids_genes_transcripts_hgvs_and_consequence(table):
    assert ids(R.apply(table, R.Filters(text="RS4444"))) == [("2", 40)]
    assert ids(R.apply(table, R.Filters(text="p.trp3"))) == [("X", 5)]
    assert ids(R.apply(table, R.Filters(text="ENST2.3"))) == [("10", 20)]
    assert ids(R.apply(table, R.Filters(text="c.5+3"))) == [("10", 20)]
    assert ids(R.apply(table, R.Filters(text="stop_"))) == [("X", 5)]
    assert ids(R.apply(table, R.Filters(text="  mt-nd  "))) == [("MT", 7)]
    # regex metacharacters are literal
    assert R.apply(table, R.Filters(text=".*")).num_rows == 0


def test_filters_normalise_and_refuse_unknown_sort_columns():
    f = R.Filters(genes=[" TP53", "TP53", ""], text="x" * 500, impacts="HIGH")
    assert f.genes == ("TP53",) and f.impacts == ("HIGH",) and len(f.text) == R.MAX_TEXT
    assert R.Filters.parse_genes("BRCA1, TP53;ENSG1  x") == ("BRCA1", "TP53", "ENSG1", "x")
    assert hash(f) == hash(R.Filters(genes=("TP53",), text="x" * 500, impacts=("HIGH",)))
    with pytest.raises(ValueError, match="cannot sort"):
        R.Filters(sort="line; drop")


# ----------------------------------------------------------------------------- sort and pages

def test_sort_by_chromosome_is_natural_then_position(table):
    out = R.apply(table, R.Filters(sort="chrom"))
    assert ids(out) == [("1", 10), ("1", 99), ("2", 40), ("2", 50), ("10", 20), ("X", 5), ("MT", 7),
                        ("GL000192.1", 3)]
    down = R.apply(table, R.Filters(sort="chrom", descending=True))
    assert ids(down) == list(reversed(ids(out)))


def test_sort_by_impact_and_consequence_follow_severity(table):
    assert R.apply(table, R.Filters(sort="impact")).column("impact").to_pylist() == [
        "HIGH", "MODERATE", "MODERATE", "LOW", "LOW", "MODIFIER", "MODIFIER", ""]
    assert R.apply(table, R.Filters(sort="consequence")).column("consequence").to_pylist()[:4] == [
        "stop_gained", "missense_variant&splice_region_variant", "missense_variant",
        "splice_region_variant&intron_variant"]


def test_sort_by_plain_columns_and_after_a_filter(table):
    assert R.apply(table, R.Filters(sort="pos")).column("pos").to_pylist() == [3, 5, 7, 10, 20, 40, 50, 99]
    out = R.apply(table, R.Filters(genes=("TP53",), sort="pos", descending=True))
    assert out.column("pos").to_pylist() == [50, 40, 10]
    assert table.column("pos").to_pylist()[0] == 50  # the input is untouched


def test_page_slices_and_clamps(table):
    assert R.page(table, 0, 3).column("pos").to_pylist() == [50, 20, 5]
    assert R.page(table, 6, 3).column("pos").to_pylist() == [3, 40]
    assert R.page(table, 100, 3).num_rows == 0 and R.page(table, -5, 1).column("pos").to_pylist() == [50]
    assert (R.page_count(0, 1000), R.page_count(1000, 1000), R.page_count(1001, 1000)) == (1, 1, 2)


# ----------------------------------------------------------------------------- options and summaries

def test_options_come_from_the_data_in_meaningful_order(table):
    opts = R.options(table)
    assert opts["consequences"] == ["stop_gained", "missense_variant", "splice_region_variant",
                                    "synonymous_variant", "intron_variant", "intergenic_variant", R.NONE_LABEL]
    assert opts["impacts"] == ["HIGH", "MODERATE", "LOW", "MODIFIER", R.NONE_LABEL]
    assert opts["chromosomes"] == ["1", "2", "10", "X", "MT", "GL000192.1"]


def test_summaries_count_most_severe_term_impacts_and_chromosomes(table):
    s = R.summaries(table)
    assert s["consequence"] == [("stop_gained", 1), ("missense_variant", 2), ("splice_region_variant", 1),
                                ("synonymous_variant", 1), ("intron_variant", 1), ("intergenic_variant", 1),
                                (R.NONE_LABEL, 1)]
    assert s["impact"] == [("HIGH", 1), ("MODERATE", 2), ("LOW", 2), ("MODIFIER", 2), (R.NONE_LABEL, 1)]
    assert s["chromosome"] == [("1", 2), ("2", 2), ("10", 1), ("X", 1), ("MT", 1), ("GL000192.1", 1)]
    assert sum(n for _, n in s["consequence"]) == table.num_rows


def test_summaries_keep_all_four_impacts_even_when_absent(table):
    s = R.summaries(R.apply(table, R.Filters(impacts=("HIGH",))))
    assert s["impact"] == [("HIGH", 1), ("MODERATE", 0), ("LOW", 0), ("MODIFIER", 0)]
    assert s["chromosome"] == [("X", 1)]


def test_chrom_sort_key_handles_prefixes_and_unknown_contigs():
    names = ["chrY", "chr10", "HLA-A", "chrM", "2", "chrX", "1", "GL1"]
    assert sorted(names, key=R.chrom_sort_key) == ["1", "2", "chr10", "chrX", "chrY", "chrM", "GL1", "HLA-A"]


# ----------------------------------------------------------------------------- exports

def test_csv_export_has_the_filtered_rows_and_a_header(table):
    view = R.apply(table, R.Filters(genes=("TP53",), sort="pos"))
    df = pd.read_csv(io.BytesIO(R.to_csv_bytes(view)), keep_default_na=False, dtype={"chrom": str})
    assert list(df.columns) == list(COLUMNS)
    assert df["pos"].tolist() == [10, 40, 50] and df["id"].tolist() == [".", "rs4444", "rs1"]
    assert df.loc[2, "consequence"] == "missense_variant&splice_region_variant"


def test_parquet_export_round_trips_with_the_same_schema(table, tmp_path):
    view = R.apply(table, R.Filters(impacts=("MODERATE", "HIGH")))
    back = pq.read_table(io.BytesIO(R.to_parquet_bytes(view)))
    assert back.schema == table.schema and back.equals(view)
    R.write_csv(view, str(tmp_path / "v.csv"))
    R.write_parquet(view, str(tmp_path / "v.parquet"))
    assert pd.read_parquet(tmp_path / "v.parquet")["gene"].tolist() == ["TP53", "DMD", "TP53"]
    assert (tmp_path / "v.csv").read_text().count("\n") == 4


# ----------------------------------------------------------------------------- states and the cache

def job(**kw) -> Job:
    base = {"job_id": "0" * 31 + "1", "user_id": "alice", "input_file": "a.vcf", "input_key": "k",
            "input_size": 1, "submitted_at": "2026-11-20T12:00:00.000Z", "status": Status.COMPLETED,
            "results_state": ResultsState.AVAILABLE, "result_keys": [
                f"alice/{'0' * 31 + '1'}/a.parquet", f"alice/{'0' * 31 + '1'}/a.transcripts.parquet"]}
    return Job.model_validate({**base, **kw})


class FakeJobs:
    def __init__(self, *jobs: Job) -> None:
        self.jobs = {j.job_id: j for j in jobs}

    def get_for_user(self, job_id: str, user_id: str) -> Job | None:
        j = self.jobs.get(job_id)
        return j if j is not None and j.user_id == user_id else None


class FakeS3:
    def __init__(self, data: bytes, storage_class: str | None = None, missing: bool = False) -> None:
        self.data, self.storage_class, self.missing = data, storage_class, missing
        self.downloads: list[str] = []

    def head_object(self, Bucket: str, Key: str) -> dict:
        if self.missing:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        out = {"ETag": '"abc"', "ContentLength": len(self.data)}
        if self.storage_class:
            out["StorageClass"] = self.storage_class
        return out

    def download_file(self, bucket: str, key: str, dest: str) -> None:
        self.downloads.append(key)
        Path(dest).write_bytes(self.data)


@pytest.fixture
def parquet_bytes(table) -> bytes:
    return R.to_parquet_bytes(table)


def test_locate_refuses_other_users_and_missing_jobs_the_same_way(parquet_bytes):
    jobs, s3 = FakeJobs(job()), FakeS3(parquet_bytes)
    for user, jid in (("bob", job().job_id), ("alice", "f" * 32), ("alice", "../../etc")):
        with pytest.raises(R.NoSuchJob) as err:
            R.locate(jobs, user, jid, s3=s3)
        assert str(err.value).startswith("no such job")
    ref = R.locate(jobs, "alice", job().job_id, s3=s3)
    assert ref.key.endswith("/a.parquet") and ref.etag == "abc" and ref.size == len(parquet_bytes)


@pytest.mark.parametrize("fields, message", [
    ({"status": Status.RUNNING, "results_state": ResultsState.NONE}, "is RUNNING: it has no results"),
    ({"status": Status.FAILED, "results_state": ResultsState.NONE, "error": "bad VCF"}, "FAILED: bad VCF"),
    ({"results_state": ResultsState.ARCHIVED}, "results are archived; upgrade to premium to restore them"),
    ({"results_state": ResultsState.RESTORING}, "being restored"),
    ({"result_keys": ["alice/" + "0" * 31 + "1/a.log"]}, "has no parquet result"),
    ({"result_keys": ["bob/" + "0" * 31 + "1/a.parquet"]}, "has no parquet result"),
])
def test_locate_refuses_jobs_without_readable_results(parquet_bytes, fields, message):
    with pytest.raises(R.ResultsUnavailable, match=message.replace("(", r"\(")):
        R.locate(FakeJobs(job(**fields)), "alice", job().job_id, s3=FakeS3(parquet_bytes))


def test_locate_trusts_s3_when_the_object_is_archived_or_gone(parquet_bytes):
    with pytest.raises(R.ResultsUnavailable, match="archived"):
        R.locate(FakeJobs(job()), "alice", job().job_id, s3=FakeS3(parquet_bytes, storage_class="GLACIER"))
    with pytest.raises(R.ResultsUnavailable, match="missing"):
        R.locate(FakeJobs(job()), "alice", job().job_id, s3=FakeS3(parquet_bytes, missing=True))


def test_local_copy_downloads_once_per_etag_and_reads_back(parquet_bytes, table, tmp_path):
    s3 = FakeS3(parquet_bytes)
    ref = R.locate(FakeJobs(job()), "alice", job().job_id, s3=s3)
    first = R.local_copy(ref, cache_dir=tmp_path, s3=s3)
    second = R.local_copy(ref, cache_dir=tmp_path, s3=s3)
    assert first == second and len(s3.downloads) == 1
    assert first.parent == tmp_path / "alice" and first.name.startswith(job().job_id)
    assert not list(tmp_path.rglob("*.part"))
    assert R.read_table(first).equals(table)
    other = R.ResultRef(job=ref.job, key=ref.key, etag="new", size=ref.size)
    assert R.local_copy(other, cache_dir=tmp_path, s3=s3) != first and len(s3.downloads) == 2


def test_cache_evicts_least_recently_used_files_beyond_the_bound(tmp_path):
    files = []
    for i in range(4):
        p = tmp_path / "u" / f"{i}.parquet"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x" * 100)
        os.utime(p, (1000 + i, 1000 + i))
        files.append(p)
    removed = R.evict(tmp_path, 250, keep=files[0])
    assert removed == [files[1], files[2]] and files[0].exists() and files[3].exists()


def test_tables_read_in_several_chunks_give_the_same_answers(table):
    """A real result has one chunk per row group (the engine writes 100k-row chunks)."""
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=3))
    assert chunked.column("chrom").num_chunks == 3
    for f in (R.Filters(sort="chrom"), R.Filters(sort="impact", descending=True),
              R.Filters(consequences=("missense_variant",), text="enst1"), R.Filters(genes=("TP53",), sort="id")):
        assert R.apply(chunked, f).equals(R.apply(table, f))
    assert R.summaries(chunked) == R.summaries(table) and R.options(chunked) == R.options(table)


def test_a_view_pages_and_summarises_without_copying_the_rows(table):
    f = R.Filters(genes=("TP53",), sort="pos", descending=True)
    view = R.select(table, f)
    assert view.base is table and view.num_rows == 3
    assert view.indices.to_pylist() == [0, 7, 5]  # the rows at pos 50, 40, 10
    assert R.page(view, 1, 5).column("pos").to_pylist() == [40, 10]
    assert view.table().equals(R.apply(table, f))
    assert R.summaries(view) == R.summaries(R.apply(table, f))
    everything = R.select(table, R.Filters())
    assert everything.indices is None and everything.table() is table and R.page(everything, 7, 5).num_rows == 1


def test_csv_export_defuses_spreadsheet_formulas_and_parquet_keeps_values() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    ids = ['=HYPERLINK("http://x")', "+1", "@SUM(A1)", "-x", "\tcmd", "-", "-3", "rs123", None, "a=b"]
    t = pa.table({"id": ids, "gene": pa.array(["=1+1"] * len(ids)).dictionary_encode(),
                  "pos": list(range(len(ids)))})
    rows = list(csv.reader(io.StringIO(R.to_csv_bytes(t).decode())))[1:]
    assert [r[0] for r in rows] == ['\'=HYPERLINK("http://x")', "'+1", "'@SUM(A1)", "'-x", "'\tcmd",
                                    "-", "-3", "rs123", "", "a=b"]
    assert {r[1] for r in rows} == {"'=1+1"} and [r[2] for r in rows] == [str(i) for i in range(len(ids))]
    assert pq.read_table(io.BytesIO(R.to_parquet_bytes(t))).column("id").to_pylist() == ids
