"""REF/ALT validation, flattening of multi-allelic records, and allele normalisation.

Normalising an allele: upper-case, trim the suffix REF and ALT share, then the prefix they
share, and move the position by the trimmed prefix. What is left says what the allele does
(`variants.Kind`). The common case (one base for one base) is handled for a whole chunk at
once with numpy; everything else goes through `normalise`, one allele at a time.

No file knowledge here: errors carry the index of the offending record in the chunk and the
reader turns that into a line number.
"""
from __future__ import annotations

import re
from itertools import compress, repeat
from operator import itemgetter
from typing import Callable, NamedTuple

import numpy as np

from annotator.engine.arrow import field_lengths
from annotator.engine.variants import Kind

_BASE_CHARS = b"ACGTNacgtn"
_IS_BASE = np.zeros(256, dtype=bool)
_IS_BASE[list(_BASE_CHARS)] = True

_SYMBOLIC = re.compile(r"<[^<>]+>")
# t[p[  t]p]  ]p]t  [p[t  (p may be a <contig>), and the single breakends .t  t.
_BREAKEND = re.compile(
    r"[ACGTN]+([\[\]])[^\[\]]+:[0-9]+\1|([\[\]])[^\[\]]+:[0-9]+\2[ACGTN]+|\.[ACGTN]+|[ACGTN]+\.",
    re.IGNORECASE,
)
_NON_REF = frozenset(("<*>", "<NON_REF>"))  # gVCF "any other allele": not a variant
_END = re.compile(r"(?:^|;)END=([^;]*)")


class AlleleError(ValueError):
    """An invalid REF/ALT (or END) in record `index` of the chunk being normalised."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


class Allele(NamedTuple):
    pos: int      # first affected reference base (base after the insertion point for INS)
    end: int      # last affected reference base (pos - 1 for an insertion)
    ref: str      # normalised REF
    alt: str      # normalised ALT (as written for symbolic alleles and breakends)
    kind: Kind


class Alleles(NamedTuple):
    """One row per ALT of every record, as `VcfChunk` stores them."""
    rec: np.ndarray      # int64 record index
    num: np.ndarray      # int32 1-based ALT index within the record
    alt: list[str]       # ALT as written
    pos: np.ndarray      # int64
    end: np.ndarray      # int64
    ref_n: list[str]
    alt_n: list[str]
    kind: np.ndarray     # int8
    snv_bases: tuple[np.ndarray, np.ndarray] | None   # see prep.snv_bases


def is_bases(s: str) -> bool:
    """True for a non-empty run of A, C, G, T, N (either case)."""
    return bool(s) and s.isascii() and not s.encode().translate(None, _BASE_CHARS)


def info_end(info: str) -> int | None:
    """The INFO END value, None when absent; ValueError when it is not a positive integer."""
    m = _END.search(info)
    if m is None:
        return None
    v = m.group(1)
    if not (v.isascii() and v.isdigit() and len(v) <= 18 and int(v) > 0):
        raise ValueError(f"INFO END must be a positive integer, found {v!r}")
    return int(v)


def normalise(pos: int, ref: str, alt: str, end: int | None = None) -> Allele:
    """Normalise one ALT against REF (REF already validated as bases).

    `end` is the record's INFO END, used only for symbolic alleles. Raises ValueError with a
    one-line reason for an ALT that is none of: bases, '*', '.', <ID>, breakend.
    """
    ref_u = ref.upper()
    last = pos + len(ref) - 1
    if is_bases(alt):
        return _trim(pos, ref_u, alt.upper())
    if alt == "*":
        return Allele(pos, last, ref_u, "*", Kind.STAR)
    if alt == "." or alt in _NON_REF:
        return Allele(pos, last, ref_u, alt, Kind.NONE)
    if _SYMBOLIC.fullmatch(alt):
        # POS is the padding base before the event; the event runs to INFO END.
        if end is not None and end < pos:
            raise ValueError(f"INFO END={end} is before POS={pos}")
        return Allele(pos + 1, last if end is None else end, ref_u, alt, Kind.SYMBOLIC)
    if _BREAKEND.fullmatch(alt):
        return Allele(pos, last, ref_u, alt, Kind.SYMBOLIC)
    if not alt:
        raise ValueError("empty ALT allele")
    raise ValueError(f"ALT allele {_shown(alt)} is not bases (ACGTN), '*', '.', a symbolic <ID> or a breakend")


def _shown(s: str) -> str:
    return repr(s if len(s) <= 40 else s[:40] + "...")


def _trim(pos: int, ref: str, alt: str) -> Allele:
    if ref == alt:
        return Allele(pos, pos + len(ref) - 1, ref, alt, Kind.NONE)
    n = min(len(ref), len(alt))
    s = 0
    while s < n and ref[-1 - s] == alt[-1 - s]:
        s += 1
    if s:
        ref, alt = ref[:-s], alt[:-s]
        n -= s
    p = 0
    while p < n and ref[p] == alt[p]:
        p += 1
    if p:
        ref, alt = ref[p:], alt[p:]
    pos += p
    lr, la = len(ref), len(alt)
    if lr == 0:
        kind = Kind.INS
    elif la == 0:
        kind = Kind.DEL
    elif lr == la:
        kind = Kind.SNV if lr == 1 else Kind.MNV
    else:
        kind = Kind.DELINS
    return Allele(pos, pos + lr - 1, ref, alt, kind)


def _upper(items: list[str]) -> list[str]:
    joined = "\n".join(items)
    return items if joined.isupper() else joined.upper().split("\n")


def check_refs(ref: list[str]) -> np.ndarray:
    """Raise AlleleError for the first REF that is not bases (whole chunk checked at once);
    return the REF lengths."""
    joined = "\t".join(ref).encode()
    lens = field_lengths(joined, len(ref))
    if joined.translate(None, _BASE_CHARS + b"\t") or (len(lens) and lens.min() == 0):
        for i, r in enumerate(ref):
            if not is_bases(r):
                raise AlleleError(i, f"REF must be bases A, C, G, T or N, found {_shown(r)}")
    return lens


def normalise_alleles(pos: np.ndarray, ref: list[str], alt: list[str],
                      info_of: Callable[[int], str]) -> Alleles:
    """Validate REF/ALT of a chunk's records and return their flattened, normalised alleles.

    `info_of(i)` gives record i's INFO column; only records with a symbolic ALT ask for it.
    """
    n = len(ref)
    ref_len = check_refs(ref)
    joined = ",".join(alt)
    if "," in joined:
        counts = _commas(alt) + 1
        a_alt = joined.split(",")
        rec = np.repeat(np.arange(n, dtype=np.int64), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        num = (np.arange(len(a_alt), dtype=np.int64) - starts + 1).astype(np.int32)
        a_ref = list(map(ref.__getitem__, rec.tolist()))
    else:
        a_alt = list(alt)
        rec = np.arange(n, dtype=np.int64)
        num = np.ones(n, dtype=np.int32)
        a_ref = ref
    m = len(a_alt)
    ref_n = list(_upper(a_ref))  # copies: the paths below write into them
    alt_n = list(_upper(a_alt))
    a_pos = pos[rec]
    a_end = a_pos.copy()
    kind = np.zeros(m, dtype=np.int8)
    lr = ref_len[rec] if m != n else ref_len
    la = lengths(a_alt)
    todo = np.ones(m, dtype=bool)
    bases = np.zeros(m, np.uint8), np.zeros(m, np.uint8)
    _singles(np.flatnonzero((lr == 1) & (la == 1)), ref_n, alt_n, kind, todo, bases)
    _padded_indels(np.flatnonzero(la > lr), lr, la, ref_n, alt_n, a_pos, a_end, kind, todo, ins=True)
    _padded_indels(np.flatnonzero(la < lr), lr, la, ref_n, alt_n, a_pos, a_end, kind, todo, ins=False)

    # Everything else, one allele at a time.
    slow = np.flatnonzero(todo)
    if len(slow):
        out_pos, out_end, out_kind = [], [], []
        for i, r in zip(slow.tolist(), rec[slow].tolist()):
            a = a_alt[i]
            try:
                end = info_end(info_of(r)) if a[:1] == "<" and a not in _NON_REF else None
                al = normalise(int(a_pos[i]), a_ref[i], a, end)
            except ValueError as exc:
                raise AlleleError(r, str(exc)) from None
            out_pos.append(al.pos)
            out_end.append(al.end)
            out_kind.append(al.kind)
            ref_n[i] = al.ref
            alt_n[i] = al.alt
        a_pos[slow] = out_pos
        a_end[slow] = out_end
        kind[slow] = out_kind
    return Alleles(rec, num, a_alt, a_pos, a_end, ref_n, alt_n, kind, snv_bases(kind, ref_n, alt_n, bases))


def snv_bases(kind: np.ndarray, ref_n: list[str], alt_n: list[str],
              bases: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Per allele, the byte of its normalised REF and ALT where it is an SNV (0 elsewhere); None
    when one is not a single ASCII character. `bases`: those `_singles` already has, so only
    the rest (trimmed MNVs) are filled in here, one at a time."""
    if bases is None:
        bases = np.zeros(len(kind), np.uint8), np.zeros(len(kind), np.uint8)
    for i in np.flatnonzero((kind == Kind.SNV) & (bases[1] == 0)).tolist():
        r, a = ref_n[i].encode(), alt_n[i].encode()
        if len(r) != 1 or len(a) != 1:
            return None
        bases[0][i], bases[1][i] = r[0], a[0]
    return bases


def _commas(alt: list[str]) -> np.ndarray:
    """Commas in each ALT: counted over one tab-joined string (ALTs hold no tab)."""
    joined = np.frombuffer("\t".join(alt).encode("utf-8"), np.uint8)
    tabs = np.flatnonzero(joined == 9)
    if len(tabs) != len(alt) - 1:
        return np.fromiter(map(str.count, alt, repeat(",")), np.int64, len(alt))
    commas = np.flatnonzero(joined == 44)
    return np.bincount(np.searchsorted(tabs, commas), minlength=len(alt)).astype(np.int64)


def _chars(strings: list[str], mask: np.ndarray, at: int | None) -> np.ndarray | None:
    """Byte value of character `at` (the whole one-character string for None) of the strings
    where mask is set, in order; None when any of them is not ASCII."""
    picked = compress(strings, mask.tolist())
    got = "".join(picked if at is None else map(itemgetter(at), picked)).encode()
    n = int(np.count_nonzero(mask))
    return np.frombuffer(got, np.uint8) if len(got) == n else None


def lengths(strings: list[str]) -> np.ndarray:
    """Length of each string, in bytes of UTF-8 (equal to len() for the ASCII that matters)."""
    joined = "\t".join(strings).encode()
    return field_lengths(joined, len(strings))


def _singles(idx: np.ndarray, ref_n: list[str], alt_n: list[str], kind: np.ndarray,
             todo: np.ndarray, bases: tuple[np.ndarray, np.ndarray]) -> None:
    """One base for one base (most of any VCF): SNV, or NONE when the bases agree. The bytes of
    the SNVs go to `bases` (REF, ALT per allele)."""
    if not len(idx):
        return
    mask = np.zeros(len(kind), dtype=bool)
    mask[idx] = True
    a = _chars(alt_n, mask, None)
    if a is None:
        return
    ok = _IS_BASE[a]
    fast = idx[ok]
    mask[idx[~ok]] = False
    r = _chars(ref_n, mask, None)
    assert r is not None  # REF was validated
    snv = r != a[ok]
    kind[fast] = np.where(snv, Kind.SNV, Kind.NONE)
    todo[fast] = False
    bases[0][fast[snv]], bases[1][fast[snv]] = r[snv], a[ok][snv]


def _padded_indels(idx: np.ndarray, lr: np.ndarray, la: np.ndarray, ref_n: list[str],
                   alt_n: list[str], a_pos: np.ndarray, a_end: np.ndarray, kind: np.ndarray,
                   todo: np.ndarray, ins: bool) -> None:
    """Simple indels, one side a single base: the result `_trim` would give, for many at once.

    Insertion R>RX..: trimming the suffix first wins when the last inserted base equals R
    (A>AA is an insertion of A *before* POS), else the shared first base goes.
    """
    short, long_ = (ref_n, alt_n) if ins else (alt_n, ref_n)
    idx = idx[((lr if ins else la)[idx] == 1)]
    if not len(idx):
        return
    mask = np.zeros(len(kind), dtype=bool)
    mask[idx] = True
    long_s = list(compress(long_, mask.tolist()))
    joined = "".join(long_s)
    s = _chars(short, mask, None)
    if s is None or not joined.isascii() or joined.encode().translate(None, b"ACGTN"):
        return  # not all plain bases: the slow path validates and names the culprit
    first = np.frombuffer("".join(map(itemgetter(0), long_s)).encode(), np.uint8)
    last = np.frombuffer("".join(map(itemgetter(-1), long_s)).encode(), np.uint8)
    suffix = last == s
    prefix = ~suffix & (first == s)
    done = suffix | prefix
    length = (la if ins else lr)[idx] - 1          # bases inserted / deleted
    shift = prefix.astype(np.int64)                # a trimmed first base moves the position
    a_pos[idx[done]] += shift[done]
    if ins:
        a_end[idx[done]] = a_pos[idx[done]] - 1
    else:
        a_end[idx[done]] = a_pos[idx[done]] + length[done] - 1
    kind[idx[done]] = Kind.INS if ins else Kind.DEL
    todo[idx[done]] = False
    for i, s_, p in zip(idx[done].tolist(), compress(long_s, done.tolist()), prefix[done].tolist()):
        short[i] = ""
        long_[i] = s_[1:] if p else s_[:-1]
