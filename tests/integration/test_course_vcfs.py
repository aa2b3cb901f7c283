"""The original system's sample VCFs (real client inputs) all annotate, one row per ALT allele."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from annotator.engine.annotate import annotate, load_results

pytestmark = pytest.mark.slow
COURSE = Path(__file__).resolve().parents[3] / "shared" / "data" / "course"
FILES = sorted(COURSE.glob("*.vcf")) if COURSE.exists() else []


def alt_alleles(path: Path) -> tuple[int, int]:
    records = alleles = 0
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            records += 1
            alleles += len(line.split("\t")[4].split(","))
    return records, alleles


@pytest.mark.skipif(not FILES, reason=f"{COURSE} not present")
@pytest.mark.parametrize("vcf", FILES, ids=lambda p: p.name)
def test_course_vcf_annotates_with_one_row_per_alt(vcf: Path, tmp_path: Path) -> None:
    cache = Path(os.environ.get("GAS_CACHE_DIR") or Path.home() / ".cache" / "gas")
    res = annotate(vcf, tmp_path, genome="GRCh37", cache_dir=cache)
    records, alleles = alt_alleles(vcf)
    df = load_results(res.parquet)
    assert len(df) == alleles
    summary = json.loads(res.summary.read_text())
    assert summary["records"] == records and summary["alleles"] == alleles
    # b36 coordinates against a GRCh37 model: not every call is meaningful, but every allele on a
    # contig the bundle has gets a consequence, and genes are found
    on_known = df[~df["chrom"].isin(list(summary["contigs_skipped"]))]
    real = on_known["variant_type"].isin(["SNV", "MNV", "INS", "DEL", "DELINS"])
    assert (on_known.loc[real, "consequence"] != "").all()
    assert (on_known.loc[~real, "consequence"] == "").all()   # ALT '.' or '*': nothing to annotate
    assert summary["genes_hit"] > 0
    with gzip.open(res.vcf, "rt") as f:
        data = [line for line in f if not line.startswith("#")]
    assert len(data) == records
