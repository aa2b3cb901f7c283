"""Tiny hand-built Bundles, VCF chunks and FASTA files for unit tests.

`make_bundle([Tx(...), ...])` turns a few python lists into a Bundle (sorted the way the
real loader sorts them); `write_fasta(dir, {"1": "ACGT..."})` writes and indexes a FASTA;
`make_chunk([("1", 100, "A", "G,T"), ...])` builds a VcfChunk with the reader's
normalisation (trim shared suffix, then prefix).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pysam

from annotator.engine.model import CDS_END_COMPLETE, CDS_START_COMPLETE, Bundle
from annotator.engine.variants import Kind, VcfChunk


@dataclass
class Tx:
    tx_id: str
    contig: str
    strand: int
    exons: list[tuple[int, int]]               # 1-based inclusive, any order
    cds: tuple[int, int] | None = None         # genomic (start, end) incl. stop codon
    flags: int = CDS_START_COMPLETE | CDS_END_COMPLETE
    biotype: str = "protein_coding"
    gene_id: str = ""
    gene_name: str = ""
    extra: dict = field(default_factory=dict)


def make_bundle(txs: list[Tx], contigs: list[str] | None = None) -> Bundle:
    """A Bundle holding exactly `txs` (no known variants)."""
    if contigs is None:
        contigs = []
        for t in txs:
            if t.contig not in contigs:
                contigs.append(t.contig)
    cid = {c: i for i, c in enumerate(contigs)}
    order = sorted(range(len(txs)), key=lambda i: (cid[txs[i].contig], min(s for s, _ in txs[i].exons),
                                                   max(e for _, e in txs[i].exons)))
    txs = [txs[i] for i in order]
    ex_start, ex_end, off = [], [], [0]
    for t in txs:
        for s, e in sorted(t.exons):
            ex_start.append(s)
            ex_end.append(e)
        off.append(len(ex_start))

    def obj(values: list[str]) -> np.ndarray:
        a = np.empty(len(values), dtype=object)
        a[:] = values
        return a

    return Bundle(
        name="tiny", genome="", source="tests/unit/tiny_models.py", contigs=list(contigs),
        tx_contig=np.array([cid[t.contig] for t in txs], dtype=np.int32),
        tx_start=np.array([min(s for s, _ in t.exons) for t in txs], dtype=np.int64),
        tx_end=np.array([max(e for _, e in t.exons) for t in txs], dtype=np.int64),
        tx_strand=np.array([t.strand for t in txs], dtype=np.int8),
        tx_cds_start=np.array([t.cds[0] if t.cds else 0 for t in txs], dtype=np.int64),
        tx_cds_end=np.array([t.cds[1] if t.cds else 0 for t in txs], dtype=np.int64),
        tx_flags=np.array([t.flags if t.cds else 0 for t in txs], dtype=np.uint8),
        tx_id=obj([t.tx_id for t in txs]),
        gene_id=obj([t.gene_id or "G" + t.tx_id for t in txs]),
        gene_name=obj([t.gene_name or "GENE" + t.tx_id for t in txs]),
        biotype=obj([t.biotype if t.cds or t.biotype != "protein_coding" else "lncRNA" for t in txs]),
        tx_exon_off=np.array(off, dtype=np.int64),
        ex_start=np.array(ex_start, dtype=np.int64),
        ex_end=np.array(ex_end, dtype=np.int64),
        snp_contig=np.zeros(0, np.int32), snp_pos=np.zeros(0, np.int64),
        snp_ref=obj([]), snp_alt=obj([]), snp_id=obj([]),
    )


def write_fasta(directory: Path, seqs: dict[str, str], name: str = "ref.fa") -> Path:
    """Write `seqs` as a 60-column FASTA in `directory` and index it (.fai)."""
    path = Path(directory) / name
    with open(path, "w") as fh:
        for contig, seq in seqs.items():
            fh.write(f">{contig}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i:i + 60] + "\n")
    pysam.faidx(str(path))
    return path


def _normalise(pos: int, ref: str, alt: str) -> tuple[int, int, str, str, Kind]:
    if alt in (".", "*") or alt == ref:
        return pos, pos + len(ref) - 1, ref, alt, Kind.STAR if alt == "*" else Kind.NONE
    if alt.startswith("<") or "[" in alt or "]" in alt:
        return pos + 1, pos + len(ref) - 1, ref[1:], alt, Kind.SYMBOLIC
    r, a = ref, alt
    while r and a and r[-1] == a[-1]:
        r, a = r[:-1], a[:-1]
    k = 0
    while k < len(r) and k < len(a) and r[k] == a[k]:
        k += 1
    r, a, p = r[k:], a[k:], pos + k
    if not r:
        kind = Kind.INS
    elif not a:
        kind = Kind.DEL
    elif len(r) == len(a):
        kind = Kind.SNV if len(r) == 1 else Kind.MNV
    else:
        kind = Kind.DELINS
    return p, p + len(r) - 1, r, a, kind


def make_chunk(records: list[tuple], ) -> VcfChunk:
    """Records as (chrom, pos, ref, alts[, end]) with comma-separated alts; `end` (INFO
    END) sets the extent of symbolic alleles."""
    lines, chrom, pos, ref = [], [], [], []
    a_rec, a_num, a_alt, a_pos, a_end, a_ref, a_alt_n, a_kind = [], [], [], [], [], [], [], []
    for i, rec in enumerate(records):
        c, p, r, alts = rec[:4]
        end = rec[4] if len(rec) > 4 else None
        lines.append(f"{c}\t{p}\t.\t{r}\t{alts}\t.\t.\t.")
        chrom.append(c)
        pos.append(p)
        ref.append(r)
        for j, alt in enumerate(alts.split(",")):
            np_, ne, nr, na, kind = _normalise(p, r, alt)
            if kind == Kind.SYMBOLIC and end is not None:
                ne = end
            a_rec.append(i)
            a_num.append(j + 1)
            a_alt.append(alt)
            a_pos.append(np_)
            a_end.append(ne)
            a_ref.append(nr)
            a_alt_n.append(na)
            a_kind.append(int(kind))
    return VcfChunk(
        lines=lines, line_no=np.arange(1, len(lines) + 1, dtype=np.int64), chrom=chrom,
        pos=np.array(pos, dtype=np.int64), ids=["."] * len(lines), ref=ref,
        a_rec=np.array(a_rec, dtype=np.int64), a_num=np.array(a_num, dtype=np.int32), a_alt=a_alt,
        a_pos=np.array(a_pos, dtype=np.int64), a_end=np.array(a_end, dtype=np.int64),
        a_ref=a_ref, a_alt_n=a_alt_n, a_kind=np.array(a_kind, dtype=np.int8),
    )


# ---------------------------------------------------------------- a standard tiny genome
_STOPS = {"TAA", "TAG", "TGA"}


def _rc(s: str) -> str:
    return s.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def demo_sequence() -> dict[str, str]:
    """Contig '1' (3000 bp) holding the demo transcripts' sequence, '2' plain filler.

    TXP (+): CDS 121..330, codons (1-based) 1 ATG, 2 CGG (Arg), 3 CAG (Gln), 4 CTG (Leu),
             40 = TAA at 328..330; exon/intron boundaries 150|151, 200|201, 260|261, 300|301.
    TXM (-): CDS 1030..1220; codon 1 ATG at 1220..1218, codon 2 CGG at 1217..1215,
             codon 37 TAA at 1032..1030.
    No other in-frame stop in either CDS (codon 3 CAG is 'one C>T away' from TAG).
    """
    import random
    rnd = random.Random(7)
    seq = [rnd.choice("ACGT") for _ in range(3000)]

    def put(pos: int, s: str) -> None:
        seq[pos - 1:pos - 1 + len(s)] = list(s)

    def clean(cds_positions: list[int], minus: bool) -> None:
        for k in range(0, len(cds_positions) - 3, 3):
            ps = cds_positions[k:k + 3]
            codon = "".join(seq[p - 1] for p in ps)
            codon = _rc(codon[::-1]) if minus else codon  # bases read in tx order, complemented
            if codon in _STOPS:
                put(ps[0], "G" if not minus else "C")
    txp = list(range(121, 151)) + list(range(201, 261)) + list(range(301, 331))
    clean(txp, False)
    put(121, "ATGCGGCAGCTG")
    put(328, "TAA")
    txm = list(range(1220, 1200, -1)) + list(range(1160, 1100, -1)) + list(range(1060, 1029, -1))
    clean(txm, True)
    put(1215, _rc("ATGCGG")[:3])          # CCG at 1215..1217 = revcomp(CGG)
    put(1218, "CAT")                      # revcomp(ATG)
    put(1030, "TTA")                      # revcomp(TAA)
    # splice sites: canonical GT..AG in transcript orientation
    for s, e in ((151, 200), (261, 300)):
        put(s, "GT")
        put(e - 1, "AG")
    return {"1": "".join(seq), "2": "".join(rnd.choice("ACGT") for _ in range(20000))}


def demo_bundle() -> Bundle:
    """TXP/TXM (coding, + and -), TXN (non-coding +), TXI (CDS length 100, incomplete ends)."""
    return make_bundle([
        Tx("TXP", "1", 1, [(101, 150), (201, 260), (301, 350)], cds=(121, 330)),
        Tx("TXM", "1", -1, [(1001, 1060), (1101, 1160), (1201, 1250)], cds=(1030, 1220)),
        Tx("TXN", "1", 1, [(2001, 2100), (2201, 2300)], biotype="lncRNA"),
        Tx("TXI", "1", 1, [(2601, 2700)], cds=(2601, 2700), flags=0),
    ], contigs=["1", "2"])


def annotate_rows(bundle: Bundle, records: list[tuple], reference=None) -> dict[tuple[int, str], dict]:
    """annotate_chunk on `records`; {(allele index, tx id or '-'): row dict with 'terms'}."""
    from annotator.engine import so
    from annotator.engine.consequence import annotate_chunk
    from annotator.engine.overlap import TranscriptIndex
    p = annotate_chunk(bundle, TranscriptIndex(bundle), make_chunk(records), reference)
    out = {}
    cols = {f: getattr(p, f) for f in ("distance", "exon", "intron", "cdna_pos", "cds_pos",
                                       "protein_pos", "amino_acids", "codons", "hgvs_c", "hgvs_p")}
    cols = {f: c.to_pylist() if f != "distance" else c for f, c in cols.items()}   # Arrow string columns
    for i in range(len(p)):
        t = int(p.tx[i])
        row = {f: c[i] for f, c in cols.items()}
        row["terms"] = so.label(p.mask[i])
        out[(int(p.allele[i]), str(bundle.tx_id[t]) if t >= 0 else "-")] = row
    return out
