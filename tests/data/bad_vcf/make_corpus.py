"""Malformed VCF inputs, each with the line number and message fragment the reader must give.

The unit tests build these in memory (tests/unit/test_vcf.py). To get them as files, e.g. to try
another tool on them:  python tests/data/bad_vcf/make_corpus.py OUTDIR
(writes one file per case and OUTDIR/expected.tsv: file, line, message fragment).
"""
from __future__ import annotations

import gzip
import sys
from dataclasses import dataclass, field
from pathlib import Path

COLS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
HEAD = "##fileformat=VCFv4.2\n" + COLS
OK = "1\t100\t.\tA\tG\t.\t.\t.\n"


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


@dataclass(frozen=True)
class BadCase:
    name: str
    data: bytes
    line_no: int | None      # None: an error about the whole file
    fragment: str            # part of the message
    filename: str = "in.vcf"
    kwargs: dict = field(default_factory=dict)


def _case(name: str, text: str | bytes, line_no: int | None, fragment: str, **kw) -> BadCase:
    data = text.encode() if isinstance(text, str) else text
    filename = kw.pop("filename", "in.vcf")
    return BadCase(name, data, line_no, fragment, filename, kw)


def _rec(*cols: str) -> str:
    return "\t".join(cols) + "\n"


_LONG_GZ = gz((HEAD + OK * 2000).encode())

BAD_CASES = [
    # file level
    _case("empty", b"", None, "the file is empty"),
    _case("empty_gzip", gz(b""), None, "the file is empty", filename="in.vcf.gz"),
    _case("bzip2", b"BZh91AY&SY" + b"\0" * 20, None, "unsupported compression (bzip2)"),
    _case("xz", b"\xfd7zXZ\x00" + b"\0" * 20, None, "unsupported compression (xz)"),
    _case("zip", b"PK\x03\x04" + b"\0" * 20, None, "unsupported compression (zip)"),
    _case("zstd", b"(\xb5/\xfd" + b"\0" * 20, None, "unsupported compression (zstd)"),
    _case("gz_name_binary", b"\x00\x01\x02garbage", None, "named .gz but is neither gzip", filename="x.vcf.gz"),
    _case("truncated_gzip", _LONG_GZ[: len(_LONG_GZ) // 2], None, "input is truncated: the gzip stream ends early"),
    _case("corrupt_gzip", _LONG_GZ[:40] + b"\xff" * 64 + _LONG_GZ[104:], None, "gzip stream is corrupt"),
    _case("bcf", gz(b"BCF\x02\x02" + b"\0" * 30), 1, "this is BCF"),
    # header
    _case("no_fileformat", COLS + OK, 1, "the first line must be ##fileformat=VCFv4.x"),
    _case("fileformat_not_first", "##source=x\n" + HEAD + OK, 1, "the first line must be ##fileformat"),
    _case("bad_version", "##fileformat=VCFv5.0\n" + COLS, 1, "unsupported VCF version 'VCFv5.0'"),
    _case("no_chrom_line", "##fileformat=VCFv4.2\n##source=x\n", None, "the header has no #CHROM line"),
    _case("data_before_chrom", "##fileformat=VCFv4.2\n" + OK, 2, "data line before the #CHROM"),
    _case("blank_in_header", "##fileformat=VCFv4.2\n\n" + COLS, 2, "blank line inside the header"),
    _case("chrom_spaces", "##fileformat=VCFv4.2\n" + COLS.replace("\t", " ") + OK, 2, "must be tab-separated"),
    _case("chrom_missing_info", "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\n", 2,
          "must start with the columns #CHROM POS ID REF ALT QUAL FILTER INFO"),
    _case("ninth_not_format", HEAD.replace("INFO\n", "INFO\tS1\n"), 2, "9th column of the #CHROM line must be FORMAT"),
    _case("nul_in_header", "##fileformat=VCFv4.2\n##x=\0\n" + COLS, 2, "NUL byte at column 5"),
    _case("binary_garbage", b"\x89PNG\r\n\x1a\n\0\0\0", 1, "invalid UTF-8 (byte 0x89) at column 1"),
    _case("binary_nul", b"\0\0\0\0garbage\n", 1, "NUL byte at column 1: binary data"),
    _case("latin1_header", "##fileformat=VCFv4.2\n##x=caf\xe9\n".encode("latin-1") + COLS.encode(), 2,
          "invalid UTF-8 (byte 0xe9) at column 8"),
    _case("cr_only_small", HEAD.replace("\n", "\r") + OK.replace("\n", "\r"), 1,
          "old Mac line endings are not supported"),
    _case("cr_only_long", HEAD.replace("\n", "\r") + OK.replace("\n", "\r") * 50, 1,
          "old Mac line endings are not supported", max_line_bytes=200),
    # records
    _case("too_few_columns", HEAD + OK + _rec("1", "100", ".", "A", "G", ".", "."), 4,
          "expected 8 tab-separated columns (as in the #CHROM line), found 7"),
    _case("too_many_columns", HEAD + OK + OK + OK.replace("\n", "\tX\n"), 5, "expected 8 tab-separated columns"),
    _case("samples_short", HEAD.replace("INFO\n", "INFO\tFORMAT\tS1\n") + OK.replace("\n", "\tGT\n"), 3,
          "expected 10 tab-separated columns (as in the #CHROM line), found 9"),
    _case("spaces_not_tabs", HEAD + OK.replace("\t", " "), 3, "found 1"),
    _case("pos_text", HEAD + OK + _rec("1", "abc", ".", "A", "G", ".", ".", "."), 4,
          "POS must be a positive integer, found 'abc'"),
    _case("pos_zero", HEAD + _rec("1", "0", ".", "A", "G", ".", ".", "."), 3, "found '0'"),
    _case("pos_negative", HEAD + _rec("1", "-5", ".", "A", "G", ".", ".", "."), 3, "found '-5'"),
    _case("pos_float", HEAD + _rec("1", "1e5", ".", "A", "G", ".", ".", "."), 3, "found '1e5'"),
    _case("pos_huge", HEAD + _rec("1", "9" * 30, ".", "A", "G", ".", ".", "."), 3, "POS must be a positive"),
    _case("pos_unicode_digit", HEAD + _rec("1", "\u0663", ".", "A", "G", ".", ".", "."), 3, "POS must be"),
    _case("pos_empty", HEAD + _rec("1", "", ".", "A", "G", ".", ".", "."), 3, "found ''"),
    _case("empty_chrom", HEAD + _rec("", "5", ".", "A", "G", ".", ".", "."), 3, "empty CHROM"),
    _case("ref_iupac", HEAD + OK + _rec("1", "5", ".", "R", "G", ".", ".", "."), 4,
          "REF must be bases A, C, G, T or N, found 'R'"),
    _case("ref_empty", HEAD + _rec("1", "5", ".", "", "G", ".", ".", "."), 3, "REF must be bases"),
    _case("ref_dot", HEAD + _rec("1", "5", ".", ".", "G", ".", ".", "."), 3, "found '.'"),
    _case("alt_bad", HEAD + _rec("1", "5", ".", "A", "Z", ".", ".", "."), 3,
          "ALT allele 'Z' is not bases (ACGTN), '*', '.', a symbolic <ID> or a breakend"),
    _case("alt_empty_entry", HEAD + _rec("1", "5", ".", "A", "G,,T", ".", ".", "."), 3, "empty ALT allele"),
    _case("alt_empty", HEAD + _rec("1", "5", ".", "A", "", ".", ".", "."), 3, "empty ALT allele"),
    _case("alt_unclosed_symbolic", HEAD + _rec("1", "5", ".", "A", "<DEL", ".", ".", "."), 3, "'<DEL'"),
    _case("alt_bad_breakend", HEAD + _rec("1", "5", ".", "A", "A]17:5[", ".", ".", "."), 3, "is not bases"),
    _case("symbolic_bad_end", HEAD + _rec("1", "5", ".", "N", "<DEL>", ".", ".", "END=x"), 3,
          "INFO END must be a positive integer, found 'x'"),
    _case("symbolic_end_before_pos", HEAD + _rec("1", "50", ".", "N", "<DEL>", ".", ".", "END=10"), 3,
          "INFO END=10 is before POS=50"),
    _case("nul_in_info", HEAD + OK + OK.replace("\t.\n", "\tX=\0\n"), 4, "NUL byte at column"),
    _case("escape_in_id", HEAD + _rec("1", "5", "rs\x1b[1m", "A", "G", ".", ".", "."), 3, "control character 0x1b"),
    _case("raw_invalid_utf8", (HEAD + OK).encode() + b"1\t5\t\xff\tA\tG\t.\t.\t.\n", 4, "invalid UTF-8 (byte 0xff) at column 5"),
    _case("lone_cr_in_record", HEAD + OK + "1\t5\t.\tA\tG\t.\r.\t.\n", 4, "carriage return (\\r) inside a line"),
    _case("header_line_after_chrom", HEAD + OK + "##late=1\n", 4, "a header line (starting with '#') after"),
    _case("second_chrom_line", HEAD + COLS, 3, "after the #CHROM line"),
    _case("line_too_long", HEAD + OK + _rec("1", "5", ".", "A", "G", ".", ".", "X=" + "A" * 300), 4,
          "line longer than 200 bytes", max_line_bytes=200),
    _case("line_too_long_at_eof", HEAD + OK + "1\t5\t" + "A" * 300, 4, "line longer than 200 bytes",
          max_line_bytes=200),
    _case("gz_error_in_records", gz((HEAD + OK + _rec("1", "x", ".", "A", "G", ".", ".", ".")).encode()), 4,
          "POS must be", filename="in.vcf.gz"),
]


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in BAD_CASES:
        name = f"{c.name}{''.join(Path(c.filename).suffixes)}"
        (outdir / name).write_bytes(c.data)
        rows.append(f"{name}\t{c.line_no or ''}\t{c.fragment}")
    (outdir / "expected.tsv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
