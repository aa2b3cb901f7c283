"""Run statistics gathered chunk by chunk (constant memory) and written as NAME.summary.json."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from annotator.engine import so
from annotator.engine.prep import chrom_codes, snv_bases
from annotator.engine.variants import Kind, VcfChunk

_TRANSITIONS = np.array(["AG", "GA", "CT", "TC"])


_TI_CODES = np.array([ord(x) << 8 | ord(y) for x, y in _TRANSITIONS.tolist()], np.int64)


def _transitions(chunk: VcfChunk, snv: np.ndarray) -> int:
    """How many of the SNV alleles `snv` are transitions (A<->G, C<->T, in the normalised upper
    case)."""
    bases = snv_bases(chunk)
    if bases is not None:
        key = bases[0][snv].astype(np.int64) << 8 | bases[1][snv]
        return int(np.isin(key, _TI_CODES).sum())
    r1 = np.asarray(chunk.a_ref, dtype=object)[snv].astype("U1")
    a1 = np.asarray(chunk.a_alt_n, dtype=object)[snv].astype("U1")
    return int(np.isin(np.char.add(r1, a1), _TRANSITIONS).sum())


@dataclass
class Summary:
    records: int = 0
    alleles: int = 0
    annotated_alleles: int = 0
    transcript_rows: int = 0
    consequences: Counter = field(default_factory=Counter)       # most severe term per allele
    all_consequences: Counter = field(default_factory=Counter)   # every term over allele x transcript rows
    impacts: Counter = field(default_factory=Counter)
    chromosomes: Counter = field(default_factory=Counter)        # records per chromosome as written
    variant_types: Counter = field(default_factory=Counter)
    contigs_skipped: Counter = field(default_factory=Counter)    # records on contigs the bundle lacks
    transitions: int = 0
    transversions: int = 0
    genes: set = field(default_factory=set)
    rsids_filled: int = 0

    def add(self, chunk: VcfChunk, masks: np.ndarray, genes: np.ndarray, pair_masks: tuple[np.ndarray, np.ndarray],
            skipped: np.ndarray, rsids_filled: int) -> None:
        """Fold in one chunk: `masks` per allele (chosen row), `genes` hit, the masks of all
        rows factorized (`factorize(pairs.mask)`), `skipped` per record."""
        mask_codes, distinct = pair_masks
        self.records += chunk.n_records
        self.alleles += chunk.n_alleles
        self.transcript_rows += len(mask_codes)
        self.rsids_filled += rsids_filled
        codes, names = chrom_codes(chunk)
        self.chromosomes.update(dict(zip(names, np.bincount(codes, minlength=len(names)).tolist())))
        for k, c in enumerate(np.bincount(chunk.a_kind, minlength=len(Kind)).tolist()):
            if c:
                self.variant_types[Kind(k).name] += c
        for r, c in enumerate(np.bincount(so.most_severe_rank(masks), minlength=so.NO_TERM).tolist()[:so.NO_TERM]):
            if c:
                self.consequences[so.NAMES[r]] += c
                self.impacts[so.TERMS[r][1]] += c
        self.annotated_alleles += int((masks != 0).sum())
        for m, c in zip(distinct.tolist(), np.bincount(mask_codes, minlength=len(distinct)).tolist()):
            for term in so.label(int(m)).split("&"):
                if term:
                    self.all_consequences[term] += c
        self.genes.update(genes.tolist())
        if skipped.any():
            self.contigs_skipped.update(np.asarray(names, dtype=object)[codes[skipped]].tolist())
        snv = np.flatnonzero(chunk.a_kind == Kind.SNV)
        if len(snv):
            ti = _transitions(chunk, snv)
            self.transitions += ti
            self.transversions += len(snv) - ti

    def merge(self, other: "Summary") -> None:
        """Fold in another chunk's Summary (computed in a worker process)."""
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, set):
                mine |= value
            elif isinstance(value, Counter):
                mine.update(value)
            else:
                setattr(self, name, mine + value)

    def to_dict(self, runtime_s: float, extra: dict) -> dict:
        top_genes = sorted(self.genes)
        return {
            **extra,
            "records": self.records,
            "alleles": self.alleles,
            "annotated_alleles": self.annotated_alleles,
            "transcript_rows": self.transcript_rows,
            "by_consequence": dict(self.consequences.most_common()),
            "by_consequence_all_transcripts": dict(self.all_consequences.most_common()),
            "by_impact": {k: self.impacts.get(k, 0) for k in so.IMPACTS},
            "by_chromosome": dict(self.chromosomes),
            "by_variant_type": dict(self.variant_types.most_common()),
            "ti_tv": round(self.transitions / self.transversions, 4) if self.transversions else None,
            "transitions": self.transitions,
            "transversions": self.transversions,
            "genes_hit": len(self.genes),
            "genes": top_genes if len(top_genes) <= 1000 else None,
            "rsids_filled": self.rsids_filled,
            "contigs_skipped": dict(self.contigs_skipped),
            "runtime_s": round(runtime_s, 3),
        }
