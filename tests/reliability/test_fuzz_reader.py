"""A bounded hypothesis fuzz of the VCF reader (and of the whole annotation run on what it accepts).

tests/unit/test_vcf.py already throws random and mutated bytes at the reader and checks it never
fails other than with a one-line `VcfFormatError`. This adds an oracle: one hostile token (markup,
control characters, bidi and line-separator code points, C1 controls, emoji, raw non-UTF-8 bytes,
arbitrary text) is planted in one column of one record of an otherwise valid file, and the reader
must refuse exactly when the VCF rules say so, naming *that* line, with the character shown by its
code (never raw); otherwise every record is accepted and re-emitted byte for byte. Accepted files
then go through `annotate` with the tiny bundle, whose annotated VCF must read back with the same
records.

Bounded: fixed `max_examples` (more under `make reliability`), a deadline per example,
derandomized (the same examples every run, so a failure is reproducible).
"""
from __future__ import annotations

import gzip
import re
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.engine.errors import AnnotationError, VcfFormatError
from annotator.engine.prep import line_array
from annotator.engine.vcf import open_vcf
from tests.reliability.harness import full_run

HEAD = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
COLUMNS = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "\x1b[31m", "\x1b]0;t\x07", "\x00",
           "\x08\x08", "\x7f", "\u202e", "\u2028", "\u0085", "\u009b31m", "\U0001f600", "\ufeff", "'; DROP TABLE x;--",
           "%s%n", "${jndi:x}", "=cmd|' /C calc'!A0", "\r", "é", "\u200b"]
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

N_READER, N_ANNOTATE = (10_000, 1000) if full_run() else (1000, 100)


def _record(pos: int, **cols: str) -> str:
    base = {"CHROM": "1", "POS": str(pos), "ID": f"rs{pos}", "REF": "A", "ALT": "G", "QUAL": "50",
            "FILTER": "PASS", "INFO": f"DP={pos % 50}"}
    base.update(cols)
    return "\t".join(base[c] for c in COLUMNS) + "\n"


def expected_refusal(column: str, value: str | bytes) -> str | None:
    """What the reader must say about `value` in `column` (a fragment), or None to accept it.
    Its order: control bytes first (anywhere in the block), then UTF-8, then the column rules."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    if column == "INFO" and raw.endswith(b"\r"):
        raw = raw[:-1]                      # the last column: "\r\n" is a CRLF line ending
    m = CONTROL_BYTES.search(raw)
    if m:
        c = m.group()
        return "carriage return" if c == b"\r" else "NUL byte" if c == b"\x00" else f"control character 0x{c[0]:02x}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid UTF-8"
    if column == "CHROM":
        return "after the #CHROM line" if text.startswith("#") else (None if text else "empty CHROM")
    if column == "POS":
        ok = text.isascii() and text.isdigit() and len(text) <= 18 and int(text) > 0
        return None if ok else "POS must be a positive integer"
    if column == "REF":
        return None if re.fullmatch(r"[ACGTNacgtn]+", text) else "REF must be bases"
    return None          # ID, QUAL, FILTER, INFO: free text (ALT is not fuzzed here: see test_normalise)


_token = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_characters="\t\n", exclude_categories=("Cs",)), min_size=1, max_size=12),
    st.binary(min_size=1, max_size=4).filter(lambda b: b"\t" not in b and b"\n" not in b),
)


def _build(n: int, k: int, column: str, token: str | bytes) -> tuple[bytes, list[str]]:
    lines = [_record(100 + 10 * i) for i in range(n)]
    placeholder = "\uE000"
    lines[k] = _record(100 + 10 * k, **{column: placeholder})
    text = (HEAD + "".join(lines))
    raw = token if isinstance(token, bytes) else token.encode("utf-8")
    return text.encode("utf-8").replace(placeholder.encode("utf-8"), raw), lines


@settings(max_examples=N_READER, deadline=timedelta(seconds=5), derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), data=st.data(), column=st.sampled_from(["CHROM", "POS", "ID", "REF", "QUAL",
                                                                      "FILTER", "INFO"]),
       token=_token, chunk=st.integers(1, 5), gz=st.booleans())
def test_reader_refuses_exactly_the_hostile_line_or_keeps_it_verbatim(n, data, column, token, chunk, gz):
    k = data.draw(st.integers(0, n - 1))
    body, _ = _build(n, k, column, token)
    want = expected_refusal(column, token)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("f.vcf.gz" if gz else "f.vcf")
        path.write_bytes(gzip.compress(body) if gz else body)
        try:
            with open_vcf(path, chunk_size=chunk) as r:
                chunks = list(r.chunks())
        except VcfFormatError as exc:
            msg = str(exc)
            assert want is not None, f"refused a valid {column} {token!r}: {msg}"
            assert exc.line_no == 3 + k, (msg, k)
            assert want in msg, (want, msg)
            assert "\n" not in msg and not CONTROL.search(msg.replace("\t", " ")), repr(msg)
            assert not any(c in msg for c in "\u202e\u2028\u0085\u009b"), repr(msg)
            return
    assert want is None, f"accepted {column} {token!r}, expected a refusal ({want})"
    lines = [ln for c in chunks for ln in line_array(c).to_pylist()]
    assert len(lines) == n
    assert lines[k].encode("utf-8") == body.split(b"\n")[2 + k].removesuffix(b"\r")   # verbatim


@settings(max_examples=N_ANNOTATE, deadline=timedelta(seconds=30), derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 6), data=st.data(), column=st.sampled_from(["CHROM", "ID", "QUAL", "FILTER", "INFO"]),
       token=_token)
def test_annotate_runs_every_accepted_file_and_its_output_reads_back(tiny, n, data, column, token):
    from annotator.engine.annotate import annotate
    k = data.draw(st.integers(0, n - 1))
    body, _ = _build(n, k, column, token)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.vcf"
        src.write_bytes(body)
        try:
            result = annotate(src, Path(d) / "out", genome=str(tiny["bundle"]), cache_dir=tiny["cache"])
        except AnnotationError as exc:
            assert expected_refusal(column, token) is not None, str(exc)
            assert "\n" not in str(exc)
            return
        assert expected_refusal(column, token) is None
        assert result.stats["records"] == n
        with open_vcf(result.paths()[0]) as r:
            assert sum(c.n_records for c in r.chunks()) == n
