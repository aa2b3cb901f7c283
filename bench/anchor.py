"""Shared pieces of the benchmarks: synthetic variants on real sequence, and the bcftools csq anchor.

Both tools get the same input, the same transcript model (a GFF3 written from our bundle)
and the same FASTA, so differences are the tools', not the data's.
"""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pysam.libcbgzf import BGZFile

FASTA_GZ = Path("/usr/share/doc/vt/examples/ref/20.fa.gz")   # Debian vt-examples: GRCh37 chr20
CONTIG = "20"
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


@dataclass
class Run:
    wall_s: float
    peak_rss_mb: float        # the command's own peak RSS
    peak_tree_rss_mb: float   # sum of the peak RSS of the command and each process it started
    returncode: int
    stderr: str


def run_measured(cmd: list[str]) -> Run:
    """Wall time and peak RSS of one child process, measured by bench.measure (see why there)."""
    out = subprocess.run([sys.executable, "-m", "bench.measure", *cmd], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    r = json.loads(out.stdout)
    return Run(r["wall_s"], r["peak_rss_mb"], r["peak_tree_rss_mb"], r["returncode"], r["stderr"])


def plain_fasta(workdir: Path) -> Path:
    """chr20 as a plain FASTA with a .fai (bcftools csq wants indexed sequence)."""
    import pysam
    out = workdir / "20.fa"
    if not out.exists():
        with gzip.open(FASTA_GZ, "rb") as src, open(out.with_suffix(".tmp"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        out.with_suffix(".tmp").rename(out)
        pysam.faidx(str(out))
    return out


def chr20_sequence(fasta: Path) -> np.ndarray:
    import pysam
    with pysam.FastaFile(str(fasta)) as f:
        return np.frombuffer(f.fetch(CONTIG).upper().encode(), dtype=np.uint8)


def synthetic_vcf(path: Path, fasta: Path, n: int, seed: int = 20, snv_fraction: float = 0.9,
                  positions: np.ndarray | None = None) -> Path:
    """n sites-only variants on chr20 with REF taken from the sequence (90% SNVs, rest indels 1-10 bp)."""
    rng = np.random.default_rng(seed)
    seq = chr20_sequence(fasta)
    if positions is None:
        acgt = np.flatnonzero(np.isin(seq, BASES))
        positions = np.sort(rng.choice(acgt[(acgt > 100) & (acgt < len(seq) - 100)], size=n, replace=False))
    pos0 = np.asarray(positions, dtype=np.int64)  # 0-based index of the first REF base
    kind = rng.random(len(pos0))
    lines = []
    for i, p in enumerate(pos0.tolist()):
        ref1 = chr(seq[p])
        if ref1 not in "ACGT":
            continue
        if kind[i] < snv_fraction:
            alt = "ACGT"[(("ACGT".index(ref1)) + 1 + int(rng.integers(0, 3))) % 4]
            ref = ref1
        elif kind[i] < snv_fraction + (1 - snv_fraction) / 2:
            length = int(rng.integers(1, 11))
            ref = seq[p:p + length + 1].tobytes().decode()
            alt = ref1
            if any(c not in "ACGT" for c in ref):
                continue
        else:
            length = int(rng.integers(1, 11))
            ref = ref1
            alt = ref1 + "".join("ACGT"[j] for j in rng.integers(0, 4, size=length))
        lines.append(f"{CONTIG}\t{p + 1}\t.\t{ref}\t{alt}\t.\t.\t.")
    header = ["##fileformat=VCFv4.2", f"##contig=<ID={CONTIG},length={len(seq)}>",
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    with BGZFile(str(path), "wb") as out:
        out.write(("\n".join(header + lines) + "\n").encode())
    return path


def repeated_vcf(src: Path, dest: Path, times: int) -> Path:
    """`src`'s records `times` over, one header: the same chunks again and again, so any growth
    of peak memory with input length is accumulation (a separate, sparser input would change the
    chunks' gene density, which is what the peak follows)."""
    if not dest.exists():
        with gzip.open(src, "rt") as f:
            text = f.read()
        cut = text.index("\n", text.index("#CHROM")) + 1
        with BGZFile(str(dest.with_suffix(".tmp")), "wb") as out:
            out.write((text[:cut] + text[cut:] * times).encode())
        dest.with_suffix(".tmp").rename(dest)
    return dest


def bcftools_csq(vcf: Path, gff3: Path, fasta: Path, out: Path) -> Run:
    """bcftools csq in local mode (-l: each variant on its own, as VEP and GAS do), VCF.gz out."""
    return run_measured(["bcftools", "csq", "-l", "-f", str(fasta), "-g", str(gff3),
                         "-Oz", "-o", str(out), str(vcf)])


def have_bcftools() -> bool:
    return shutil.which("bcftools") is not None and FASTA_GZ.exists()
