"""The VCF reader: a strict, bounded, streaming parser that names the line of every problem.

Hand-written rather than htslib (cyvcf2/pysam) because we need the exact 1-based line number and
a one-line reason for every malformed input, the raw line text to re-emit, and bounded work on
hostile input; htslib warns on stderr and skips or guesses.

What is accepted (docs/vcf-input.md has the full list and messages):

- plain text or gzip/bgzip (multi-member), detected by magic bytes, not by the name;
- `##fileformat=VCFv4.0` .. `VCFv4.5` (and `VCFv3.3`, which has the same columns) on line 1;
- `\\n` or `\\r\\n` line endings; a lone `\\r` (old Mac) is refused;
- blank lines after the `#CHROM` line are skipped wherever they are (they still count for line
  numbers), so a trailing empty line or two is harmless;
- records in any order.

Speed comes from treating a chunk of lines as one block: control characters, UTF-8, tab counts,
POS digits and REF/ALT alphabets are each checked for the whole block in C/numpy, and only a
failing block is re-scanned line by line to name the first bad line. A regular block (every
line with the header's columns, POS plain digits) is split into its fields by Arrow's CSV reader
(`_regular_fields`), and its lines and Arrow columns come from the block's buffers; any other
block takes the general path, which names the problem.
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from itertools import chain, repeat
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
from isal import igzip, isal_zlib

from annotator.engine.arrow import fields, from_lengths, ints, offsets
from annotator.engine.compressed import GZIP_MAGIC
from annotator.engine.errors import VcfFormatError
from annotator.engine.normalise import AlleleError, normalise_alleles
from annotator.engine.prep import codes_of
from annotator.engine.variants import VcfChunk

FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
VERSIONS = ("VCFv3.3", "VCFv4.0", "VCFv4.1", "VCFv4.2", "VCFv4.3", "VCFv4.4", "VCFv4.5")
MAX_HEADER_BYTES = 64 << 20   # a header bigger than this is not a VCF we can use
BOMB_FLOOR = 100 << 20        # the ratio limit only applies past this many decompressed bytes
_READ_SIZE = 1 << 20
# Text per chunk: sites-only lines (~25 bytes) never reach it at 40k records; with samples,
# chunks get fewer records, so a chunk's memory stays about that of a sites-only one.
CHUNK_BYTES = 8 << 20
_OTHER_COMPRESSION = {
    b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip", b"(\xb5/\xfd": "zstd",
}
_CONTROL = bytes(range(0, 9)) + bytes(range(11, 32)) + b"\x7f"  # all but tab and newline
_CONTROL_RE = re.compile(b"[" + re.escape(_CONTROL) + b"]")


def open_vcf(path: Path, chunk_size: int = 100_000, max_line_bytes: int = 1 << 20,
             max_ratio: int = 1000, *, bomb_floor: int = BOMB_FLOOR, chunk_bytes: int = CHUNK_BYTES) -> "VcfReader":
    """Open a VCF (plain or gzip/bgzip) and read its header; header errors raise here.

    A chunk holds at most `chunk_size` records and, unless one line is longer, `chunk_bytes`
    of text, so that wide files (many samples) get fewer records a chunk in the same memory.
    `max_line_bytes` bounds any one line; `max_ratio` x compressed size bounds the decompressed
    size once past `bomb_floor` bytes (a decompression bomb stops with an error, not an OOM).
    """
    return VcfReader(Path(path), chunk_size, max_line_bytes, max_ratio, bomb_floor, chunk_bytes)


class _StreamError(Exception):
    """A problem of the byte stream; the line splitter adds where it happened."""


class _Source:
    """Decompressed bytes of the file, with the bomb check and gzip errors made readable."""

    def __init__(self, path: Path, max_ratio: int, bomb_floor: int) -> None:
        try:
            self.raw: BinaryIO = open(path, "rb")
        except OSError as exc:
            raise VcfFormatError(f"cannot open the input: {exc.strerror or exc}") from None
        self.total_bytes = os.fstat(self.raw.fileno()).st_size
        self._limit = max(bomb_floor, max_ratio * self.total_bytes)
        self._max_ratio = max_ratio
        self._out = 0
        head = self.raw.read(8)
        self.raw.seek(0)
        self.gzip = head.startswith(GZIP_MAGIC)
        for magic, name in _OTHER_COMPRESSION.items():
            if head.startswith(magic):
                self.close()
                raise VcfFormatError(f"unsupported compression ({name}): use plain text or gzip/bgzip")
        if not self.gzip and path.suffix in (".gz", ".bgz") and head and not head.lstrip(b"\xef\xbb\xbf").startswith(b"#"):
            self.close()
            raise VcfFormatError(f"the file is named {path.suffix} but is neither gzip data nor a text VCF")
        # ISA-L's gzip reader (isal, as bgzf.py uses for writing): 0.016 s of CPU per 1M sites-only
        # records against 0.05 s for the standard library's (2026-12-08), and more for wide files
        self._stream: BinaryIO = igzip.IGzipFile(fileobj=self.raw, mode="rb") if self.gzip else self.raw

    def read(self, n: int) -> bytes:
        try:
            data = self._stream.read(n)
        except EOFError:
            raise _StreamError("input is truncated: the gzip stream ends early") from None
        except (gzip.BadGzipFile, zlib.error, isal_zlib.error, OSError) as exc:
            raise _StreamError(f"the gzip stream is corrupt ({exc})") from None
        self._out += len(data)
        if self.gzip and self._out > self._limit:
            raise _StreamError(
                f"decompressed data exceeds {self._max_ratio} times the file size "
                f"({self._out} bytes from {self.total_bytes}): refusing a possible decompression bomb")
        return data

    @property
    def bytes_read(self) -> int:
        return self.total_bytes if self.raw.closed else self.raw.tell()

    def close(self) -> None:
        if self.gzip and hasattr(self, "_stream"):
            self._stream.close()
        self.raw.close()


class _Lines:
    """Blocks of complete lines from a byte stream, never holding a line over the limit."""

    def __init__(self, source: _Source, max_line_bytes: int) -> None:
        self._src = source
        self._max = max_line_bytes
        self._read_size = min(_READ_SIZE, max_line_bytes + 1)  # a line inside one read fits
        self._buf = b""
        self._pos = 0
        self._pending: list[bytes] = []
        self._newlines = 0   # newlines in buf[pos:] + pending
        self._partial = 0    # bytes after the last of those newlines
        self._held = 0       # bytes in buf[pos:] + pending
        self._eof = False
        self.line_no = 0     # lines handed out so far
        self.any_data = False

    def _fill(self) -> None:
        try:
            piece = self._src.read(self._read_size)
        except _StreamError as exc:
            raise VcfFormatError(f"{exc} (after line {self.line_no + self._newlines})") from None
        if not piece:
            self._eof = True
            return
        self.any_data = True
        self._pending.append(piece)
        self._held += len(piece)
        first = piece.find(b"\n")
        if first < 0:
            self._partial += len(piece)
        else:
            self._check_length(self._partial + first, piece)
            self._newlines += piece.count(b"\n")
            self._partial = len(piece) - piece.rfind(b"\n") - 1
        self._check_length(self._partial, piece)

    def _check_length(self, length: int, piece: bytes) -> None:
        if length > self._max:
            line = self.line_no + self._newlines + 1
            if b"\r" in piece:
                raise VcfFormatError("carriage returns (\\r) without line feeds: old Mac line endings "
                                     "are not supported; convert the file to \\n line endings", line)
            raise VcfFormatError(f"line longer than {self._max} bytes", line)

    def take(self, n: int, max_bytes: int = 1 << 62) -> tuple[int, bytes, int]:
        """Up to n lines as one block ending in a newline: (first line number, block, count).
        Whole lines of at most `max_bytes` in all, or one line when the first is longer."""
        while not self._eof and self._newlines < n and (self._held < max_bytes or self._newlines == 0):
            self._fill()
        if self._pending:
            self._buf = b"".join([self._buf[self._pos:], *self._pending])
            self._pos = 0
            self._pending = []
        buf, start = self._buf, self._pos
        if self._newlines >= n or not self._eof:
            if self._newlines < n:     # filling stopped at max_bytes: the complete lines held
                end = len(buf) - self._partial - 1
            elif n < 64:
                end = start - 1
                for _ in range(n):
                    end = buf.find(b"\n", end + 1)
            else:
                view = np.frombuffer(buf, np.uint8, offset=start)
                end = start + int(np.flatnonzero(view == 10)[n - 1])
            count = min(n, self._newlines)
            if end - start >= max_bytes:   # whole lines up to max_bytes, at least one
                end = buf.rfind(b"\n", start, start + max_bytes)
                end = end if end >= 0 else buf.find(b"\n", start)
                count = buf.count(b"\n", start, end + 1)
            block = buf[start:end + 1]
            self._pos = end + 1
            self._newlines -= count
            self._held -= len(block)
        else:  # end of input: whatever is left, the last line possibly without its newline
            block = buf[start:]
            count = self._newlines + (1 if self._partial else 0)
            if self._partial:
                block += b"\n"
            self._buf, self._pos, self._newlines, self._partial, self._held = b"", 0, 0, 0, 0
        first = self.line_no + 1
        self.line_no += count
        return first, block, count


class VcfReader:
    """An open VCF: header attributes after construction, records via `chunks()`."""

    def __init__(self, path: Path, chunk_size: int, max_line_bytes: int, max_ratio: int,
                 bomb_floor: int = BOMB_FLOOR, chunk_bytes: int = CHUNK_BYTES) -> None:
        if chunk_size < 1 or chunk_bytes < 1:
            raise ValueError("chunk_size and chunk_bytes must be positive")
        self.path = path
        self.chunk_size = chunk_size
        self.chunk_bytes = chunk_bytes
        self.header_lines: list[str] = []
        self.column_header = ""
        self.samples: list[str] = []
        self.fileformat = ""
        self._has_format = False
        self._src = _Source(path, max_ratio, bomb_floor)
        self._lines = _Lines(self._src, max_line_bytes)
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    @property
    def total_bytes(self) -> int:
        """Size of the file on disk (compressed size for gzip)."""
        return self._src.total_bytes

    @property
    def bytes_read(self) -> int:
        """Bytes of the file consumed so far; with total_bytes, a progress fraction."""
        return self._src.bytes_read

    @property
    def n_columns(self) -> int:
        return len(FIXED_COLUMNS) + (1 + len(self.samples) if self.samples or self._has_format else 0)

    def __enter__(self) -> "VcfReader":
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._src.close()

    # -- header -------------------------------------------------------------------------

    def _header_line(self) -> tuple[int, str] | None:
        first, block, count = self._lines.take(1)
        if count == 0:
            return None
        if first == 1 and block.startswith(b"BCF"):
            raise VcfFormatError("this is BCF (binary VCF): convert it with `bcftools view -Ov`", 1)
        return first, _decode(block, first)[:-1]

    def _read_header(self) -> None:
        got = self._header_line()
        if got is None:
            raise VcfFormatError("the file is empty" if not self._lines.any_data else
                                 "the file has no VCF header")
        line_no, line = got
        line = line.removeprefix("\ufeff")  # a byte-order mark some Windows editors write
        if not line.startswith("##fileformat="):
            raise VcfFormatError("the first line must be ##fileformat=VCFv4.x", 1)
        self.fileformat = line[len("##fileformat="):].strip()
        if self.fileformat not in VERSIONS:
            raise VcfFormatError(f"unsupported VCF version {self.fileformat[:40]!r} "
                                 "(accepted: VCFv4.0 to VCFv4.5, VCFv3.3)", 1)
        self.header_lines.append(line)
        size = len(line)
        while True:
            got = self._header_line()
            if got is None:
                raise VcfFormatError(f"the header has no #CHROM line (the file ends at line {line_no})")
            line_no, line = got
            size += len(line)
            if size > MAX_HEADER_BYTES:
                raise VcfFormatError(f"the header is larger than {MAX_HEADER_BYTES >> 20} MB", line_no)
            if line.startswith("##"):
                self.header_lines.append(line)
            elif line.startswith("#"):
                self._column_header(line, line_no)
                return
            elif not line:
                raise VcfFormatError("blank line inside the header", line_no)
            else:
                raise VcfFormatError("data line before the #CHROM column header line", line_no)

    def _column_header(self, line: str, line_no: int) -> None:
        cols = line.split("\t")
        if tuple(cols[:8]) != FIXED_COLUMNS:
            hint = " (it must be tab-separated)" if len(cols) < 8 and " " in line else ""
            raise VcfFormatError("the #CHROM line must start with the columns "
                                 + " ".join(FIXED_COLUMNS) + hint, line_no)
        self._has_format = len(cols) > 8
        if self._has_format and cols[8] != "FORMAT":
            raise VcfFormatError(f"the 9th column of the #CHROM line must be FORMAT, found {cols[8][:40]!r}",
                                 line_no)
        self.samples = cols[9:]
        self.column_header = line

    # -- records ------------------------------------------------------------------------

    def chunks(self) -> Iterator[VcfChunk]:
        """Records in chunks of at most chunk_size (fewer when blank lines were skipped). A block
        of only blank lines gives a chunk with no records: yielded all the same, so a caller
        reports progress and can stop during a long run of them."""
        ncol = self.n_columns
        while True:
            first, block, count = self._lines.take(self.chunk_size, self.chunk_bytes)
            if count == 0:
                return
            yield parse_block(block, first, ncol)


def _decode(block: bytes, first: int) -> str:
    """The block as text: no control characters but tab, valid UTF-8; CRLF becomes LF."""
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
    if len(block.translate(None, _CONTROL)) != len(block):
        m = _CONTROL_RE.search(block)
        assert m is not None
        at = m.start()
        line = first + block.count(b"\n", 0, at)
        col = at - block.rfind(b"\n", 0, at)
        byte = block[at]
        if byte == 0x0D:
            raise VcfFormatError("carriage return (\\r) inside a line: old Mac line endings are not "
                                 "supported; convert the file to \\n line endings", line)
        what = "NUL byte" if byte == 0 else f"control character 0x{byte:02x}"
        raise VcfFormatError(f"{what} at column {col}: binary data, not a text VCF", line)
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first + block.count(b"\n", 0, exc.start)
        col = exc.start - block.rfind(b"\n", 0, exc.start)
        raise VcfFormatError(f"invalid UTF-8 (byte 0x{block[exc.start]:02x}) at column {col}: "
                             "binary data or a non-UTF-8 text encoding", line) from None


def parse_block(block: bytes, first: int, ncol: int) -> VcfChunk:
    """Parse a block of complete data lines (first line numbered `first`) into a chunk."""
    text = _decode(block, first)
    if "\n\n" not in text and text[:1] not in ("\n", "#") and "\n#" not in text:
        chunk = _regular_chunk(block, first, ncol)
        if chunk is not None:
            return chunk
    lines = text.split("\n")
    lines.pop()  # the block ends with a newline
    line_no = np.arange(first, first + len(lines), dtype=np.int64)
    if "\n\n" in text or text[:1] == "\n":  # blank lines: skipped, but they keep their numbers
        keep = [i for i, s in enumerate(lines) if s]
        lines = [lines[i] for i in keep]
        line_no = line_no[keep]
    n = len(lines)
    if n == 0:
        return _empty_chunk()

    def fail(i: int, reason: str) -> VcfFormatError:
        return VcfFormatError(reason, int(line_no[i]))

    if lines[0][:1] == "#" or "\n#" in text:
        i = next(i for i, s in enumerate(lines) if s[:1] == "#")
        raise fail(i, "a header line (starting with '#') after the #CHROM line")
    tabs = list(map(str.count, lines, repeat("\t")))
    if tabs.count(ncol - 1) != n:
        i = next(i for i, t in enumerate(tabs) if t != ncol - 1)
        raise fail(i, f"expected {ncol} tab-separated columns (as in the #CHROM line), found {tabs[i] + 1}")
    flat = list(chain.from_iterable(map(str.split, lines, repeat("\t"), repeat(5))))
    chrom, pos_s, ids, ref, alt = (flat[k::6] for k in range(5))
    if "" in chrom:
        raise fail(chrom.index(""), "empty CHROM")
    pos = _positions(pos_s, fail)
    return _chunk(lines, line_no, chrom, pos, ids, ref, alt, lambda r: lines[r])


def _chunk(lines: list[str] | pa.Array, line_no: np.ndarray, chrom: list[str], pos: np.ndarray, ids: list[str],
           ref: list[str], alt: list[str], line: Callable[[int], str]) -> VcfChunk:
    try:
        al = normalise_alleles(pos, ref, alt, lambda r: line(r).split("\t", 8)[7])
    except AlleleError as exc:
        raise VcfFormatError(exc.reason, int(line_no[exc.index])) from None
    chunk = VcfChunk(lines=lines, line_no=line_no, chrom=chrom, pos=pos, ids=ids, ref=ref,
                     a_rec=al.rec, a_num=al.num, a_alt=al.alt, a_pos=al.pos, a_end=al.end,
                     a_ref=al.ref_n, a_alt_n=al.alt_n, a_kind=al.kind)
    chunk.derived["snv_bases"] = al.snv_bases       # what prep.snv_bases would compute again
    return chunk


def _regular_chunk(block: bytes, first: int, ncol: int) -> VcfChunk | None:
    """The chunk of a regular block (no blank or '#' lines; see `_regular_fields`), None for any
    other. Its lines, CHROM codes and Arrow columns come from the block's buffers (what
    prep.prepare would otherwise rebuild from Python strings)."""
    ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
    regular = _regular_fields(block, len(ends), ncol)
    if regular is None:
        return None
    chrom, codes, pos, ids, ref, alt, columns = regular
    n = len(pos)
    line_no = np.arange(first, first + n, dtype=np.int64)
    lines = from_lengths(block.replace(b"\n", b""), np.diff(ends, prepend=-1) - 1)
    chunk = _chunk(lines, line_no, chrom, pos, ids, ref, alt, lambda r: lines[r].as_py())
    a_alt = columns[2] if chunk.n_alleles == n else fields(chunk.a_alt)
    chunk.derived["chrom_codes"] = codes
    chunk.derived["columns"] = (ints(pos), columns[1], a_alt, ints(line_no), columns[0])
    return chunk


# Wide files (many samples) keep the general path, which splits off only the first five fields
# of each line: its memory per chunk was measured with it (docs/benchmarks.md, session 5).
_REGULAR_MAX_COLUMNS = 16
_CSV_PARSE = pcsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False, escape_char=False,
                               newlines_in_values=False, ignore_empty_lines=False)
_DIGITS = b"0123456789"


def _regular_fields(block: bytes, n: int, ncol: int) -> tuple | None:
    """CHROM, POS, ID, REF and ALT of a block of `n` non-blank data lines: (chrom list, its
    `prep.chrom_codes`, pos int64, ids, refs, alts lists, and the ID, REF and ALT columns as
    Arrow strings). None when any line is not regular (a column count other than `ncol`, an
    empty CHROM, POS not 1-18 plain digits or 0, a carriage return) or the file has more than
    _REGULAR_MAX_COLUMNS columns: the general path then parses the block and names the first
    bad line.

    Why Arrow's CSV reader: it splits the blocks of 1M records in ~0.085 s of C++ (measured
    alone); the numpy splitting it replaced took ~0.23 s with its POS parsing. The block is
    known to be valid UTF-8 here (`_decode`), so its binary columns are viewed as strings
    without a copy."""
    if b"\r" in block or ncol > _REGULAR_MAX_COLUMNS:
        return None
    names = [str(i) for i in range(ncol)]
    try:
        table = pcsv.read_csv(
            pa.py_buffer(block),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False, block_size=len(block) + 1),
            parse_options=_CSV_PARSE,
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names[:5], pa.binary()),
                                                include_columns=names[:5], strings_can_be_null=False,
                                                quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:      # a line with another column count
        return None
    if table.num_rows != n:
        return None
    chrom, pos_s, ids, ref, alt = (table.column(i).combine_chunks().view(pa.string()) for i in range(5))
    pos = _digits(pos_s)
    if pos is None or not np.diff(offsets(chrom)).all():
        return None
    at = offsets(chrom)
    chrom_bytes = chrom.buffers()[2].to_pybytes()[at[0]:at[-1]]
    first = chrom_bytes[:at[1] - at[0]]
    if chrom_bytes == first * n:       # a sorted VCF's block: one contig (no hashing)
        chrom_list = [first.decode()] * n
        codes: tuple = (np.zeros(n, np.int64), chrom_list[:1])
    else:
        chrom_list = chrom.to_pylist()
        codes = codes_of(chrom_list)
    return chrom_list, codes, pos, ids.to_pylist(), ref.to_pylist(), alt.to_pylist(), (ids, ref, alt)


_POW10 = 10 ** np.arange(19, dtype=np.int64)


def _digits(values: pa.Array) -> np.ndarray | None:
    """The integers spelled by `values`: None unless each is 1-18 plain decimal digits (no sign,
    space or '0x', which Arrow's own integer parsing would take) and not zero. In numpy, a
    product of digits and powers of ten per width: Arrow's cast would import pyarrow.compute
    into the reader process (~0.13 s)."""
    at = offsets(values)
    size = np.diff(at)
    if not len(size) or size.min() < 1 or size.max() > 18:
        return None
    data = values.buffers()[2].to_pybytes()[at[0]:at[-1]]
    if data.translate(None, _DIGITS):
        return None
    digits = np.frombuffer(data, np.uint8) - np.uint8(48)
    starts = at[:-1] - at[0]
    value = np.empty(len(size), np.int64)
    for width in np.flatnonzero(np.bincount(size)).tolist():    # a sorted VCF's chunk has one or two
        rows = np.flatnonzero(size == width)
        value[rows] = digits[starts[rows, None] + np.arange(width)] @ _POW10[width - 1::-1]
    return value if (value > 0).all() else None


def _positions(pos_s: list[str], fail: Callable[[int, str], VcfFormatError]) -> np.ndarray:
    """POS column as int64: digits only (checked for the whole chunk at once), 1 to 18 of them,
    not zero."""
    joined = "".join(pos_s)
    if "" not in pos_s and joined.isascii() and joined.isdigit():
        try:
            pos = np.fromiter(map(int, pos_s), np.int64, len(pos_s))
        except OverflowError:
            pos = np.zeros(1, np.int64)
        if (pos > 0).all():
            return pos
    for i, p in enumerate(pos_s):
        if not (p.isascii() and p.isdigit() and len(p) <= 18 and int(p) > 0):
            raise fail(i, f"POS must be a positive integer, found {p[:40]!r}")
    raise AssertionError("unreachable")


def _empty_chunk() -> VcfChunk:
    i64 = np.zeros(0, np.int64)
    return VcfChunk(lines=[], line_no=i64, chrom=[], pos=i64, ids=[], ref=[], a_rec=i64,
                    a_num=np.zeros(0, np.int32), a_alt=[], a_pos=i64, a_end=i64, a_ref=[], a_alt_n=[],
                    a_kind=np.zeros(0, np.int8))
