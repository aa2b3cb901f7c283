"""annotate() end to end on the tiny designed gene: every output, its content, and failure modes."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotator.engine.annotate import annotate, load_results
from annotator.engine.errors import AnnotationError, VcfFormatError
from annotator.engine.variants import Kind
from tests.integration.tinygenome import write_vcf

RECORDS = [
    "1\t151\t.\tA\tC\t50\tPASS\tDP=10",        # start codon -> start_lost
    "1\t160\trsKnown\tA\tG,T\t50\tPASS\tDP=10",  # codon 4 AAA: GAA missense (K4E); TAA stop_gained
    "1\t162\t.\tA\tG\t50\tPASS\t.",            # codon 4 third base: AAG synonymous
    "1\t169\t.\tAA\tA\t50\tPASS\tDP=3",        # 1-base deletion in CDS -> frameshift
    "1\t202\t.\tT\tC\t50\tPASS\tDP=3",         # second intron base -> splice_donor
    "1\t250\t.\tC\tG\t50\tPASS\tDP=3",         # mid intron
    "1\t2000\t.\tC\tG\t50\tPASS\tDP=3",        # 1600 bp 3' of the gene -> downstream
    "1\t11000\t.\tC\tG\t50\tPASS\tDP=3",       # nothing within 5 kb -> intergenic
    "7\t100\t.\tC\tG\t50\tPASS\tDP=3",         # contig not in the bundle -> skipped, counted
]


def fix_refs(seq: str, records: list[str]) -> list[str]:
    """Put the tiny genome's bases into REF (and keep each ALT different from REF)."""
    out = []
    for r in records:
        c = r.split("\t")
        if c[0] == "1":
            p = int(c[1])
            ref = seq[p - 1:p - 1 + len(c[3])]
            alts = []
            for a in c[4].split(","):
                if len(a) < len(ref):
                    a = ref[:len(a)]          # a deletion keeps the anchor base
                elif a == ref:
                    a = "G" if ref != "G" else "C"
                alts.append(a)
            c[3], c[4] = ref, ",".join(alts)
        out.append("\t".join(c))
    return out


@pytest.fixture(scope="module")
def result(tiny, tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    vcf = write_vcf(d / "sample.vcf", fix_refs(tiny["seq"], RECORDS))
    seen = []
    res = annotate(vcf, d / "out", genome=str(tiny["bundle"]), cache_dir=tiny["cache"], progress=seen.append)
    return res, seen


def by_pos(df: pd.DataFrame) -> dict:
    return {(r.pos, r.alt): r for r in df.itertuples()}


def test_writes_every_output_with_the_input_name(result):
    res, seen = result
    assert [p.name for p in res.paths()] == ["sample.annot.vcf.gz", "sample.parquet", "sample.transcripts.parquet",
                                              "sample.summary.json", "sample.log"]
    assert all(p.exists() for p in res.paths())
    assert not list(res.vcf.parent.glob(".sample.partial-*"))
    assert seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)


def test_one_row_per_allele_with_the_most_severe_consequence(result, tiny):
    res, _ = result
    df = load_results(res.parquet)
    assert len(df) == 10  # 9 records, one of them with two ALTs
    rows = by_pos(df)
    seq = tiny["seq"]
    assert rows[(151, "C")].consequence.startswith("start_lost")
    assert rows[(160, "G")].consequence == "missense_variant"
    assert rows[(160, "G")].hgvs_p.endswith("p.Lys4Glu")
    assert rows[(160, "T")].consequence == "stop_gained"
    assert rows[(160, "T")].id == "rsKnown"
    assert rows[(162, "G")].consequence == "synonymous_variant"
    assert rows[(169, seq[168])].consequence.startswith("frameshift_variant")
    assert "splice_donor_variant" in rows[(202, "C")].consequence
    assert rows[(250, "G" if seq[249] != "G" else "C")].consequence == "intron_variant"
    down = rows[(2000, "G" if seq[1999] != "G" else "C")]
    assert down.consequence == "downstream_gene_variant" and down.gene == "GENE1"
    assert rows[(11000, "G" if seq[10999] != "G" else "C")].consequence == "intergenic_variant"
    skipped = rows[(100, "G")]
    assert skipped.consequence == "" and skipped.chrom == "7"
    assert set(df.columns) >= {"chrom", "pos", "id", "ref", "alt", "consequence", "impact", "gene", "gene_id",
                               "transcript", "biotype", "hgvs_c", "hgvs_p"}
    assert rows[(160, "G")].impact == "MODERATE" and rows[(160, "T")].impact == "HIGH"
    assert rows[(160, "G")].transcript == "T1" and rows[(160, "G")].gene_id == "G1"


def test_transcript_table_has_one_row_per_allele_and_transcript(result):
    res, _ = result
    t = load_results(res.transcripts)
    # every allele on contig 1 has exactly one transcript or intergenic row; contig 7 has none
    assert len(t) == 9
    assert set(t.transcript) == {"T1", ""}
    assert t[t.pos == 160].codons.tolist() == ["Aaa/Gaa", "Aaa/Taa"]


def test_parquet_columns_read_back_as_plain_non_null_strings(result):
    """Coded columns are written from per-chunk Arrow dictionaries; readers must still get plain
    strings (not pandas categoricals) and required (non-null) columns."""
    res, _ = result
    for path in (res.parquet, res.transcripts):
        schema = pq.read_schema(path)
        assert all(not f.nullable for f in schema)
        assert all(not pa.types.is_dictionary(f.type) for f in schema)
        df = load_results(path)
        assert df.consequence.dtype == df.chrom.dtype == df.ref.dtype   # as an uncoded column
    t = load_results(res.transcripts)
    assert set(t.biotype) == {"protein_coding", ""} and set(t.chrom) == {"1"}
    v = load_results(res.parquet)
    assert set(v.variant_type) <= {k.name for k in Kind} and "intergenic_variant" in set(v.consequence)


def test_vcf_carries_csq_in_vep_layout_and_keeps_records(result):
    res, _ = result
    with gzip.open(res.vcf, "rt") as f:
        lines = f.read().splitlines()
    header = [line for line in lines if line.startswith("##INFO=<ID=CSQ")]
    assert len(header) == 1 and "Format: Allele|Consequence|IMPACT|SYMBOL|Gene|" in header[0]
    data = [line for line in lines if not line.startswith("#")]
    assert len(data) == 9
    multi = next(line for line in data if "\t160\t" in line)
    csq = dict(kv.split("=", 1) for kv in multi.split("\t")[7].split(";"))["CSQ"].split(",")
    assert [c.split("|")[:3] for c in csq] == [["G", "missense_variant", "MODERATE"], ["T", "stop_gained", "HIGH"]]
    assert multi.split("\t")[7].startswith("DP=10;CSQ=")
    dot_info = next(line for line in data if "\t162\t" in line)
    assert dot_info.split("\t")[7].startswith("CSQ=")
    skipped = next(line for line in data if line.startswith("7\t"))
    assert "CSQ=" not in skipped


def test_summary_counts(result):
    res, _ = result
    s = json.loads(res.summary.read_text())
    assert s["records"] == 9 and s["alleles"] == 10
    assert s["contigs_skipped"] == {"7": 1}
    assert s["by_consequence"]["stop_gained"] == 1 and s["by_consequence"]["intergenic_variant"] == 1
    assert s["by_impact"]["HIGH"] >= 3
    assert s["by_variant_type"]["DEL"] == 1
    assert s["genes_hit"] == 1
    assert s["transitions"] + s["transversions"] == 9
    assert s["runtime_s"] > 0
    assert "done: 9 records" in res.log.read_text()
    # every term of every transcript row, as the transcript table has them
    rows = pd.read_parquet(res.transcripts, columns=["consequence"])["consequence"]
    terms = rows.str.split("&").explode().value_counts().to_dict()
    assert {k: v for k, v in s["by_consequence_all_transcripts"].items() if v} == terms
    assert s["transcript_rows"] == len(rows)


def test_malformed_vcf_fails_with_line_number_and_leaves_no_results(tiny, tmp_path):
    vcf = write_vcf(tmp_path / "bad.vcf", ["1\t100\t.\tA\tG\t.\t.\t.", "1\tnotanumber\t.\tA\tG\t.\t.\t."])
    with pytest.raises(VcfFormatError) as err:
        annotate(vcf, tmp_path / "out", genome=str(tiny["bundle"]), cache_dir=tiny["cache"])
    assert err.value.line_no == 5 and "POS" in str(err.value)
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert left == ["bad.log"]
    assert "FAILED: line 5" in (tmp_path / "out" / "bad.log").read_text()


def test_cli_reports_one_line_error_and_nonzero_exit(tiny, tmp_path):
    vcf = write_vcf(tmp_path / "bad.vcf", ["1\t100\t.\tA\tG\t.\t.\t.", "1\t100\t.\tA"])
    p = subprocess.run([sys.executable, "-m", "gas.cli", "annotate", str(vcf), "-o", str(tmp_path / "o"),
                        "--genome", str(tiny["bundle"]), "--cache-dir", str(tiny["cache"])],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "line 5" in p.stderr and "Traceback" not in p.stderr


def test_cli_json_output(tiny, tmp_path):
    vcf = write_vcf(tmp_path / "ok.vcf", ["1\t250\t.\tC\tG\t.\t.\t."])
    p = subprocess.run([sys.executable, "-m", "gas.cli", "annotate", str(vcf), "-o", str(tmp_path / "o"),
                        "--genome", str(tiny["bundle"]), "--cache-dir", str(tiny["cache"]), "--json"],
                       capture_output=True, text=True, check=True)
    out = json.loads(p.stdout)
    assert out["records"] == 1 and out["outputs"]["parquet"].endswith("ok.parquet")


def test_worker_processes_give_the_same_outputs_as_one_process(tiny, tmp_path):
    vcf = write_vcf(tmp_path / "sample.vcf", fix_refs(tiny["seq"], RECORDS))
    one = annotate(vcf, tmp_path / "one", genome=str(tiny["bundle"]), cache_dir=tiny["cache"],
                   chunk_size=2, processes=0)
    two = annotate(vcf, tmp_path / "two", genome=str(tiny["bundle"]), cache_dir=tiny["cache"],
                   chunk_size=2, processes=2)
    assert load_results(one.parquet).equals(load_results(two.parquet))
    assert load_results(one.transcripts).equals(load_results(two.transcripts))
    with gzip.open(one.vcf, "rb") as a, gzip.open(two.vcf, "rb") as b:
        assert a.read() == b.read()
    s1, s2 = json.loads(one.summary.read_text()), json.loads(two.summary.read_text())
    assert {k: v for k, v in s1.items() if k != "runtime_s"} == {k: v for k, v in s2.items() if k != "runtime_s"}
    assert "2 worker processes" in two.log.read_text()


def test_reader_process_gives_the_same_outputs_and_errors_as_the_thread(tiny, tmp_path, monkeypatch):
    """Inputs of ~8 MB of text and more are parsed in a child process (annotator/engine/readproc.py);
    forced on here for a small file, it must change nothing: outputs, the error and its line."""
    import annotator.engine.readproc as readproc
    vcf = write_vcf(tmp_path / "sample.vcf", fix_refs(tiny["seq"], RECORDS))
    thread = annotate(vcf, tmp_path / "thread", genome=str(tiny["bundle"]), cache_dir=tiny["cache"],
                      chunk_size=2, processes=0)
    monkeypatch.setattr(readproc, "PARSE_PROCESS_BYTES", 0)
    from annotator.engine.readproc import ParsedChunks as real
    started = []
    monkeypatch.setattr(readproc, "ParsedChunks", lambda *a, **k: started.append(a) or real(*a, **k))
    child = annotate(vcf, tmp_path / "child", genome=str(tiny["bundle"]), cache_dir=tiny["cache"],
                     chunk_size=2, processes=0)
    assert len(started) == 1
    assert load_results(thread.parquet).equals(load_results(child.parquet))
    assert load_results(thread.transcripts).equals(load_results(child.transcripts))
    with gzip.open(thread.vcf, "rb") as a, gzip.open(child.vcf, "rb") as b:
        assert a.read() == b.read()

    bad = write_vcf(tmp_path / "bad.vcf", ["1\t100\t.\tA\tG\t.\t.\t.", "1\t101\t.\tA\tG\t.\t.\t.",
                                           "1\tnotanumber\t.\tA\tG\t.\t.\t."])
    with pytest.raises(VcfFormatError) as err:
        annotate(bad, tmp_path / "out", genome=str(tiny["bundle"]), cache_dir=tiny["cache"], chunk_size=1)
    assert err.value.line_no == 6 and "POS" in str(err.value) and len(started) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bad.log"]


def test_a_reader_process_started_by_the_caller_is_used_and_closed(tiny, tmp_path, monkeypatch, capsys):
    """`gas annotate` starts the reader process before it imports the engine; annotate() must
    use that one (not start a second), close it, and refuse one started for another input."""
    import annotator.engine.readproc as readproc
    from annotator.engine.readproc import CHUNK_SIZE
    from gas.cli import main
    monkeypatch.setattr(readproc, "PARSE_PROCESS_BYTES", 0)
    real, started = readproc.ParsedChunks, []
    monkeypatch.setattr(readproc, "ParsedChunks", lambda *a, **k: started.append(real(*a, **k)) or started[-1])
    vcf = write_vcf(tmp_path / "sample.vcf", fix_refs(tiny["seq"], RECORDS))
    alone = annotate(vcf, tmp_path / "alone", genome=str(tiny["bundle"]), cache_dir=tiny["cache"], processes=0)
    assert main(["annotate", str(vcf), "-o", str(tmp_path / "cli"), "--genome", str(tiny["bundle"]),
                 "--cache-dir", str(tiny["cache"])]) == 0
    assert len(started) == 2 and all(p._proc.poll() is not None for p in started)    # one each, both ended
    assert f"annotated {len(RECORDS)} records" in capsys.readouterr().out
    assert load_results(alone.transcripts).equals(load_results(tmp_path / "cli" / "sample.transcripts.parquet"))

    other = readproc.start_for(vcf, 7)
    with pytest.raises(ValueError, match="started for .*sample.vcf, 7 records a chunk"):
        annotate(vcf, tmp_path / "mismatch", genome=str(tiny["bundle"]), cache_dir=tiny["cache"], parser=other)
    assert other._proc.poll() is not None and not (tmp_path / "mismatch" / "sample.parquet").exists()
    blocked = readproc.start_for(vcf, CHUNK_SIZE)         # an output folder that cannot be made
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        annotate(vcf, tmp_path / "file" / "out", genome=str(tiny["bundle"]), cache_dir=tiny["cache"], parser=blocked)
    assert blocked._proc.poll() is not None


@pytest.mark.parametrize("reader_process", [False, True])
def test_progress_keeps_coming_through_blank_lines_and_can_stop_the_run(tiny, tmp_path, monkeypatch,
                                                                        reader_process):
    """A long run of blank lines has no records, but the caller still gets a progress call per
    chunk of lines, so the worker's time limit (or a lost claim) can stop it."""
    import annotator.engine.readproc as readproc
    if reader_process:
        monkeypatch.setattr(readproc, "PARSE_PROCESS_BYTES", 0)
    vcf = write_vcf(tmp_path / "blank.vcf", ["1\t100\t.\tA\tG\t.\t.\t."] + [""] * 50_000
                    + ["1\t101\t.\tA\tT\t.\t.\t."])
    calls: list[float] = []
    done = annotate(vcf, tmp_path / "ok", genome=str(tiny["bundle"]), cache_dir=tiny["cache"],
                    chunk_size=1000, progress=calls.append)
    assert done.stats["records"] == 2 and len(calls) >= 49 and calls == sorted(calls)

    class Stop(AnnotationError):
        pass

    def stop_at_ten(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) == 10:
            raise Stop("stopped")

    calls.clear()
    with pytest.raises(Stop):
        annotate(vcf, tmp_path / "stopped", genome=str(tiny["bundle"]), cache_dir=tiny["cache"],
                 chunk_size=1000, progress=stop_at_ten)
    assert len(calls) == 10 and sorted(p.name for p in (tmp_path / "stopped").iterdir()) == ["blank.log"]


def test_the_reader_process_is_chosen_by_the_inputs_text_size(tmp_path):
    """A gzip input counts at GZIP_TEXT_RATIO times its size (its text is what costs to parse)."""
    import annotator.engine.readproc as readproc
    plain = tmp_path / "a.vcf"
    plain.write_bytes(b"##fileformat=VCFv4.2\n" + b"#" * 1000)
    packed = tmp_path / "a.vcf.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert readproc.text_bytes(plain) == plain.stat().st_size
    assert readproc.text_bytes(packed) == readproc.GZIP_TEXT_RATIO * packed.stat().st_size
