"""The results page on a 1M-variant job: time to the first rows, a warm rerun, a filter change.

Usage: python -m bench.ui_results [--n 1000000] [--repeat 3] [--workdir DIR]

Builds a synthetic NAME.parquet with the engine's schema (annotator/engine/tables.VARIANT_SCHEMA)
and realistic value distributions (chromosomes by length, ~90% SNVs, ~40% of rows intronic and
~20% intergenic, a few in a thousand HIGH, 20k genes with a skewed hit count, rsIDs on ~60%),
puts it in an in-process moto results bucket for a COMPLETED job, and runs ui/views/results.py
with streamlit's AppTest as its owner. Measured, each `--repeat` times (best and median):

- cold: the whole page run with every cache empty (the local parquet cache folder and the
  page's st.cache_resource), i.e. ownership check + HEAD + download from S3 + parquet read +
  options + first page + charts;
- first_rows: from the start of that cold run to the moment the page hands its first rows to
  st.dataframe (the table is drawn before the charts, so this is what the user waits for);
- warm: the same page run again (the table and the view come from the caches);
- filter: a filter submitted (impact HIGH+MODERATE and two chromosomes), i.e. the filtered view,
  its page and its charts; text: a free-text search instead (substring over seven columns, the
  slowest filter); sort: every row sorted by gene (the slowest sort).

The first repetition also imports the page's modules (altair, pandas...) as the first visit after
a server start does; it is reported on its own (`process_cold`) and left out of the statistics.

AppTest runs the script in-process without a browser, so the times exclude the websocket and the
browser's paint; moto stands in for S3/DynamoDB (no network). The target is first rows <= 2 s.
One JSON object on stdout; progress on stderr. Numbers on a shared machine are indicative.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "ui" / "views" / "results.py"
TARGET_FIRST_ROWS_S = 2.0

# GRCh38 primary assembly lengths in Mb (variants are spread in proportion), MT gets a handful.
CHROM_MB = {"1": 248, "2": 242, "3": 198, "4": 190, "5": 181, "6": 171, "7": 159, "8": 145, "9": 138,
            "10": 134, "11": 135, "12": 133, "13": 114, "14": 107, "15": 102, "16": 90, "17": 83,
            "18": 80, "19": 59, "20": 64, "21": 47, "22": 51, "X": 156, "Y": 57, "MT": 0.05}
# Most severe consequence per allele (the engine writes most severe first) and its share:
# roughly what a whole-genome call set looks like after annotation.
CONSEQUENCES = [
    ("intron_variant", 0.38), ("intergenic_variant", 0.20), ("upstream_gene_variant", 0.09),
    ("downstream_gene_variant", 0.08), ("intron_variant&non_coding_transcript_variant", 0.08),
    ("non_coding_transcript_exon_variant", 0.05), ("3_prime_UTR_variant", 0.03),
    ("5_prime_UTR_variant", 0.006), ("synonymous_variant", 0.012), ("missense_variant", 0.012),
    ("splice_region_variant&intron_variant", 0.008), ("splice_region_variant&synonymous_variant", 0.001),
    ("missense_variant&splice_region_variant", 0.0008), ("coding_sequence_variant", 0.001),
    ("stop_gained", 0.0005), ("frameshift_variant", 0.0008), ("splice_donor_variant", 0.0002),
    ("splice_acceptor_variant", 0.0002), ("inframe_deletion", 0.0003), ("inframe_insertion", 0.0002),
    ("start_lost", 0.0001), ("stop_lost", 0.0001), ("", 0.001),
]
IMPACT = {"transcript_ablation": "HIGH", "splice_acceptor_variant": "HIGH", "splice_donor_variant": "HIGH",
          "stop_gained": "HIGH", "frameshift_variant": "HIGH", "stop_lost": "HIGH", "start_lost": "HIGH",
          "inframe_insertion": "MODERATE", "inframe_deletion": "MODERATE", "missense_variant": "MODERATE",
          "splice_region_variant": "LOW", "synonymous_variant": "LOW"}
CODING = ("synonymous", "missense", "stop_", "frameshift", "inframe", "start_lost", "coding_sequence")
AA = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
AA3 = np.array(["Ala", "Cys", "Asp", "Glu", "Phe", "Gly", "His", "Ile", "Lys", "Leu", "Met", "Asn", "Pro",
                "Gln", "Arg", "Ser", "Thr", "Val", "Trp", "Tyr"])
BASES = np.array(list("ACGT"))


def log(msg: str) -> None:
    print(f"[bench.ui_results] {msg}", file=sys.stderr, flush=True)


def _s(values: Any) -> pa.Array:
    return pa.array(values, pa.string())


def synthetic_results(n: int, seed: int = 7, n_genes: int = 20_000) -> pa.Table:
    """n rows with the engine's NAME.parquet schema, sorted by chromosome and position."""
    from annotator.engine.tables import VARIANT_SCHEMA
    rng = np.random.default_rng(seed)
    names = list(CHROM_MB)
    weights = np.array([CHROM_MB[c] for c in names], float)
    chrom_idx = np.sort(rng.choice(len(names), n, p=weights / weights.sum()))
    pos = (rng.random(n) * np.array([CHROM_MB[c] for c in names])[chrom_idx] * 1e6).astype(np.int64) + 1
    order = np.lexsort((pos, chrom_idx))
    chrom_idx, pos = chrom_idx[order], pos[order]
    chrom = np.array(names, dtype=object)[chrom_idx]

    kind = rng.choice(["SNV", "DEL", "INS", "MNV", "DELINS"], n, p=[0.88, 0.05, 0.05, 0.01, 0.01])
    ref = BASES[rng.integers(0, 4, n)].astype(object)
    alt = BASES[(rng.integers(1, 4, n) + np.searchsorted(BASES, ref.astype(str))) % 4].astype(object)
    indel = np.flatnonzero(kind != "SNV")
    extra = ["".join(rng.choice(BASES, k)) for k in rng.integers(1, 6, len(indel))]
    for i, e in zip(indel.tolist(), extra):
        if kind[i] == "DEL":
            ref[i] = ref[i] + e
        elif kind[i] == "INS":
            alt[i] = ref[i] + e
        else:
            ref[i], alt[i] = ref[i] + e, alt[i] + e[::-1]
    rs = rng.random(n) < 0.6
    ids = np.where(rs, np.char.add("rs", rng.integers(1, 1_500_000_000, n).astype(str)), ".").astype(object)

    combos = [c for c, _ in CONSEQUENCES]
    p = np.array([w for _, w in CONSEQUENCES])
    cidx = rng.choice(len(combos), n, p=p / p.sum())
    consequence = np.array(combos, dtype=object)[cidx]
    impact = np.array([IMPACT.get(c.split("&")[0], "MODIFIER") if c else "" for c in combos], dtype=object)[cidx]
    genic = np.array([bool(c) and c != "intergenic_variant" for c in combos])[cidx]
    coding = np.array([any(c.startswith(k) for k in CODING) for c in combos])[cidx]
    exonic = coding | np.array(["UTR" in c or "exon" in c for c in combos])[cidx]

    # genes: skewed hit counts (a few long genes collect many intronic variants)
    g = np.minimum((rng.pareto(1.2, n) * 800).astype(np.int64), n_genes - 1)
    gene = np.where(genic, np.char.add("GENE", g.astype(str)), "").astype(object)
    gene_id = np.where(genic, np.char.add("ENSG", np.char.zfill((g + 100000).astype(str), 11)), "").astype(object)
    tnum = g * 4 + rng.integers(0, 4, n)
    transcript = np.where(genic, np.char.add(np.char.add("ENST", np.char.zfill((tnum + 200000).astype(str), 11)),
                                             ".1"), "").astype(object)
    biotype = np.where(genic, np.where(coding | (rng.random(n) < 0.7), "protein_coding", "lncRNA"), "").astype(object)
    exon_n = rng.integers(1, 20, n)
    exon = np.where(exonic, np.char.add(np.char.add(exon_n.astype(str), "/"), (exon_n + 5).astype(str)),
                    "").astype(object)
    ppos = rng.integers(1, 2000, n)
    a1, a2 = rng.integers(0, 20, n), rng.integers(0, 20, n)
    is_mis = np.array(["missense" in c for c in combos])[cidx]
    is_syn = np.array(["synonymous" in c for c in combos])[cidx]
    protein_pos = np.where(coding, ppos.astype(str), "").astype(object)
    amino_acids = np.where(is_mis, np.char.add(np.char.add(AA[a1], "/"), AA[a2]),
                           np.where(is_syn, AA[a1], "")).astype(object)
    cpos = (ppos * 3 - rng.integers(0, 3, n)).astype(str)
    change = np.char.add(np.char.add(ref.astype(str), ">"), alt.astype(str))
    hgvs_c = np.where(exonic & (kind == "SNV"),
                      np.char.add(np.char.add(np.char.add(transcript.astype(str), ":c."), cpos), change), "")
    intronic = np.array(["intron" in c for c in combos])[cidx] & (kind == "SNV")
    offset = rng.integers(1, 5000, n).astype(str)
    hgvs_c = np.where(intronic, np.char.add(np.char.add(np.char.add(np.char.add(
        transcript.astype(str), ":c."), cpos), np.char.add("+", offset)), change), hgvs_c).astype(object)
    protein = np.char.add(np.char.add("ENSP", np.char.zfill((tnum + 300000).astype(str), 11)), ".1:p.")
    hgvs_p = np.where(is_mis, np.char.add(np.char.add(np.char.add(protein, AA3[a1]), ppos.astype(str)), AA3[a2]),
                      np.where(is_syn, np.char.add(np.char.add(np.char.add(protein, AA3[a1]), ppos.astype(str)),
                                                   "="), "")).astype(object)
    data = {
        "chrom": _s(chrom), "pos": pa.array(pos, pa.int64()), "id": _s(ids), "ref": _s(ref), "alt": _s(alt),
        "variant_type": _s(kind), "consequence": _s(consequence), "impact": _s(impact), "gene": _s(gene),
        "gene_id": _s(gene_id), "transcript": _s(transcript), "biotype": _s(biotype), "exon": _s(exon),
        "protein_pos": _s(protein_pos), "amino_acids": _s(amino_acids), "hgvs_c": _s(hgvs_c),
        "hgvs_p": _s(hgvs_p), "n_transcripts": pa.array(np.where(genic, rng.integers(1, 12, n), 0), pa.int32()),
        "line": pa.array(np.arange(n, dtype=np.int64) + 120),
    }
    return pa.Table.from_pydict({f.name: data[f.name] for f in VARIANT_SCHEMA}, schema=VARIANT_SCHEMA)


def write_results(path: Path, n: int, seed: int = 7) -> Path:
    """The synthetic result as the worker writes it (pyarrow's default parquet writer)."""
    pq.write_table(synthetic_results(n, seed), path)
    return path


# ----------------------------------------------------------------------------- the measurement

class FirstRows:
    """Wraps st.dataframe: the time the page first hands rows to it (perf_counter)."""

    def __init__(self) -> None:
        import streamlit as st
        self.st, self.original, self.at = st, st.dataframe, None

    def __enter__(self) -> Self:
        def dataframe(data: Any = None, *args: Any, **kwargs: Any) -> Any:
            if self.at is None and data is not None and len(data):
                self.at = time.perf_counter()
            return self.original(data, *args, **kwargs)
        self.st.dataframe = dataframe
        return self

    def __exit__(self, *exc: object) -> None:
        self.st.dataframe = self.original


def run_bench(n: int, repeat: int, workdir: Path) -> dict[str, Any]:
    import boto3  # noqa: F401
    import moto  # noqa: F401  (before any client is built)
    from moto import mock_aws

    from gas import aws
    from gas.jobs import new_job, now_iso
    from gas.settings import Settings
    from gas.store import JobStore
    from gas.users import UserStore

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        os.environ.pop(var, None)
    cache_dir = workdir / "cache"
    os.environ["GAS_RESULTS_CACHE_DIR"] = str(cache_dir)
    aws.reset_clients()

    parquet = workdir / f"synthetic-{n}.parquet"
    t0 = time.perf_counter()
    if not parquet.exists():
        write_results(parquet, n)
    log(f"synthetic parquet: {parquet.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s")

    with mock_aws():
        from tests.integration.aws_fixtures import provision
        settings = Settings()
        handles = provision(settings, s3=aws.s3(settings.region), ddb=aws.dynamodb(settings.region),
                            sqs=aws.sqs(settings.region), sns=aws.sns(settings.region))
        user = UserStore(settings).add("bench", "bench@example.org", "premium")
        jobs = JobStore(settings)
        job = new_job(user_id=user.user_id, input_file="wgs.vcf.gz",
                      input_key=f"{user.user_id}/x/wgs.vcf.gz", input_size=1, genome="GRCh38")
        job = job.model_copy(update={"input_key": f"{user.user_id}/{job.job_id}/wgs.vcf.gz"})
        jobs.create(job)
        jobs.claim(job.job_id, "bench-worker")
        from gas.storage import result_key
        key = result_key(user.user_id, job.job_id, "wgs.parquet")
        handles.s3.upload_file(str(parquet), settings.results_bucket, key)
        jobs.complete(job.job_id, "bench-worker", n, [key], now=now_iso())

        runs: dict[str, list[float]] = {"cold": [], "first_rows": [], "warm": [], "filter": [], "text": [],
                                        "sort": []}
        rows_seen, process_cold = None, None
        for i in range(repeat + 1):
            at = _app(user.user_id, job.job_id)
            _clear_caches(cache_dir)
            with FirstRows() as fr:
                start = time.perf_counter()
                at.run(timeout=120)
                end = time.perf_counter()
            _check(at)
            runs["cold"].append(end - start)
            runs["first_rows"].append((fr.at or end) - start)
            start = time.perf_counter()
            at.run(timeout=120)
            runs["warm"].append(time.perf_counter() - start)
            _check(at)
            at.multiselect(key="results_f_impacts").set_value(["HIGH", "MODERATE"])
            at.multiselect(key="results_f_chromosomes").set_value(["1", "2"])
            start = time.perf_counter()
            at.button(key="FormSubmitter:results_filters-Apply").click().run(timeout=120)
            runs["filter"].append(time.perf_counter() - start)
            _check(at)
            rows_seen = len(at.dataframe[0].value)
            at.multiselect(key="results_f_impacts").set_value([])
            at.multiselect(key="results_f_chromosomes").set_value([])
            at.text_input(key="results_f_text").input("rs12")
            start = time.perf_counter()
            at.button(key="FormSubmitter:results_filters-Apply").click().run(timeout=120)
            runs["text"].append(time.perf_counter() - start)
            _check(at)
            at.text_input(key="results_f_text").input("")
            at.selectbox(key="results_f_sort").set_value("gene")
            start = time.perf_counter()
            at.button(key="FormSubmitter:results_filters-Apply").click().run(timeout=120)
            runs["sort"].append(time.perf_counter() - start)
            _check(at)
            log(f"run {i}/{repeat}{' (process cold)' if i == 0 else ''}: "
                + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in runs.items()))
            if i == 0:
                process_cold = {k: round(v.pop(), 3) for k, v in runs.items()}

    def stat(v: list[float]) -> dict[str, float]:
        return {"best_s": round(min(v), 3), "median_s": round(statistics.median(v), 3)}

    return {
        "bench": "ui_results", "rows": n, "parquet_mb": round(parquet.stat().st_size / 1e6, 1),
        "how": "streamlit AppTest of ui/views/results.py against in-process moto (no browser, no network)",
        "repeat": repeat, "process_cold": process_cold, **{k: stat(v) for k, v in runs.items()},
        "filtered_page_rows": rows_seen,
        "target_first_rows_s": TARGET_FIRST_ROWS_S,
        "first_rows_met": statistics.median(runs["first_rows"]) <= TARGET_FIRST_ROWS_S,
        "cpus": os.cpu_count(), "note": "shared machine: indicative",
    }


def _app(user_id: str, job_id: str) -> Any:
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["user_id"] = user_id
    at.query_params["job"] = job_id
    return at


def _clear_caches(cache_dir: Path) -> None:
    import shutil

    import streamlit as st
    st.cache_resource.clear()
    st.cache_data.clear()
    shutil.rmtree(cache_dir, ignore_errors=True)


def _check(at: Any) -> None:
    if at.exception:
        raise RuntimeError(f"page raised: {at.exception[0].value}")
    if not at.dataframe:
        raise RuntimeError("page drew no table: " + "; ".join(e.value for e in at.error))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ui_results")
    p.add_argument("--n", type=int, default=1_000_000, help="variants in the synthetic result")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workdir", default=None, help="keep the synthetic parquet between runs")
    args = p.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="gas-ui-results-"))
    work.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run_bench(args.n, args.repeat, work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
