"""The "your job finished" email: subject, plain-text body and HTML body. Pure, no AWS.

Everything a user or a VCF controls (the input file name, the failure reason, consequence and
impact names read from the summary) is cleaned of control characters in every part and
HTML-escaped in the HTML body. The mail carries no secret and no presigned URL: only a link to
the job page, `{app_url}/job?id={job_id}`, where the UI checks ownership and signs downloads
with a fresh, short TTL.
"""
from __future__ import annotations

import html
import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from gas.jobs import JOB_ID_RE, Job, Status

TOP_CONSEQUENCES = 5
IMPACT_ORDER = ("HIGH", "MODERATE", "LOW", "MODIFIER")
SUMMARY_MISSING = "summary not available"
MAX_SUBJECT_NAME = 60     # characters of the file name shown in the subject
MAX_LABEL = 80            # characters of a consequence/impact name shown
MAX_REASON = 1000


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class SummaryDigest:
    """What the email shows from NAME.summary.json (counts by most severe consequence, impacts)."""

    top_consequences: list[tuple[str, int]] = field(default_factory=list)
    impacts: list[tuple[str, int]] = field(default_factory=list)
    records: int | None = None
    records_skipped: int = 0   # records on contigs the annotation bundle lacks


# ----------------------------------------------------------------------------- cleaning

def clean(value: Any, limit: int | None = None) -> str:
    """One printable line: control/format characters (newlines, bidi overrides, NUL) become
    spaces or are dropped, runs of spaces collapse, and the result is cut to `limit` with '…'."""
    text = str(value if value is not None else "")
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif cat in ("Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(ch)
    line = " ".join("".join(out).split())
    if limit is not None and len(line) > limit:
        line = line[: max(limit - 1, 0)].rstrip() + "…"
    return line


def esc(value: Any, limit: int | None = None) -> str:
    """`clean` then HTML-escape (quotes too, so it is safe in attributes)."""
    return html.escape(clean(value, limit), quote=True)


def job_link(app_url: str, job_id: str) -> str:
    """The job page in the UI. Only a valid job id goes in; nothing in it is secret."""
    if not JOB_ID_RE.match(job_id or ""):
        raise ValueError(f"invalid job id {job_id!r}")
    return f"{app_url.rstrip('/')}/job?id={quote(job_id, safe='')}"


# ----------------------------------------------------------------------------- the summary

def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value == int(value):
        return int(value)
    return None


def _counts(mapping: Any) -> list[tuple[str, int]]:
    if not isinstance(mapping, dict):
        return []
    out = []
    for name, value in mapping.items():
        n = _count(value)
        if isinstance(name, str) and name and n is not None:
            out.append((name, n))
    return out


def digest_summary(summary: Any, top: int = TOP_CONSEQUENCES) -> SummaryDigest | None:
    """The parts of a NAME.summary.json the email shows; None when it is absent or unusable.

    Read defensively: the file comes from S3 and a newer or broken worker may write anything.
    """
    if not isinstance(summary, dict):
        return None
    consequences = sorted(((n, c) for n, c in _counts(summary.get("by_consequence")) if c > 0),
                          key=lambda nc: (-nc[1], nc[0]))[:top]
    impacts = {n: c for n, c in _counts(summary.get("by_impact"))}
    ordered = [(n, impacts.pop(n)) for n in IMPACT_ORDER if n in impacts]
    ordered += sorted(impacts.items())
    skipped = sum(c for _, c in _counts(summary.get("contigs_skipped")))
    if not consequences and not ordered and _count(summary.get("records")) is None:
        return None
    return SummaryDigest(top_consequences=consequences, impacts=ordered,
                         records=_count(summary.get("records")), records_skipped=skipped)


# ----------------------------------------------------------------------------- rendering

def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def failure_sentence(reason: str | None) -> str:
    """The failure reason in words (plain text; escape it for HTML)."""
    reason = clean(reason, MAX_REASON).rstrip(".")
    if not reason:
        return "The annotation failed, and no reason was recorded."
    return f"The annotation failed: {reason}."


def render_job_email(job: Job, summary: dict[str, Any] | None, app_url: str, *,
                     variants: int | None = None, error: str | None = None) -> Email:
    """Subject, text and HTML for a finished job. `summary` is the parsed NAME.summary.json
    (None when it is missing); `variants`/`error` fill in what the job item lacks."""
    status = Status(job.status)
    if status not in (Status.COMPLETED, Status.FAILED):
        raise ValueError(f"job {job.job_id} is {status}: only finished jobs are announced")
    name = clean(job.input_file) or "(unnamed input)"
    link = job_link(app_url, job.job_id)
    verb = "is ready" if status == Status.COMPLETED else "failed"
    subject = f"GAS: annotation of {clean(name, MAX_SUBJECT_NAME)} {verb}"

    text: list[str] = [f"Your annotation job {verb}.", "",
                       f"Job:    {job.job_id}", f"Input:  {name}", f"Status: {status.value}"]
    body: list[str] = [f"<p>Your annotation job {verb}.</p>",
                       "<table>",
                       f"<tr><th align=\"left\">Job</th><td><code>{esc(job.job_id)}</code></td></tr>",
                       f"<tr><th align=\"left\">Input</th><td>{esc(name)}</td></tr>",
                       f"<tr><th align=\"left\">Status</th><td>{esc(status.value)}</td></tr>"]

    if status == Status.COMPLETED:
        count = job.variants if job.variants is not None else variants
        shown = f"{count:,}" if count is not None else "unknown"
        text.append(f"Variants annotated: {shown}")
        body.append(f"<tr><th align=\"left\">Variants annotated</th><td>{esc(shown)}</td></tr>")
        body.append("</table>")
        digest = digest_summary(summary)
        text.append("")
        if digest is None:
            text.append(f"Consequences and impacts: {SUMMARY_MISSING}.")
            body.append(f"<p>Consequences and impacts: {esc(SUMMARY_MISSING)}.</p>")
        else:
            if digest.top_consequences:
                text.append("Top consequences (most severe per variant allele):")
                text += [f"  {clean(n, MAX_LABEL)}: {c:,}" for n, c in digest.top_consequences]
                body.append("<p>Top consequences (most severe per variant allele):</p><ul>")
                body += [f"<li>{esc(n, MAX_LABEL)}: {c:,}</li>" for n, c in digest.top_consequences]
                body.append("</ul>")
            if digest.impacts:
                text.append("Impacts: " + ", ".join(f"{clean(n, MAX_LABEL)} {c:,}" for n, c in digest.impacts))
                body.append("<p>Impacts: " + ", ".join(f"{esc(n, MAX_LABEL)} {c:,}"
                                                         for n, c in digest.impacts) + "</p>")
            if digest.records_skipped:
                note = (f"{_plural(digest.records_skipped, 'record')} on contigs the annotation "
                        "bundle does not cover were skipped.")
                text.append(note)
                body.append(f"<p>{esc(note)}</p>")
        text += ["", f"View and download the results: {link}"]
        body.append(f"<p><a href=\"{html.escape(link, quote=True)}\">View and download the results</a></p>")
    else:
        sentence = failure_sentence(job.error or error)
        body.append("</table>")
        text += ["", sentence, "", "Check the input file and submit it again.", "",
                 f"Job details: {link}"]
        body += [f"<p>{esc(sentence, MAX_REASON + 40)}</p>",
                 "<p>Check the input file and submit it again.</p>",
                 f"<p><a href=\"{html.escape(link, quote=True)}\">Job details</a></p>"]

    text += ["", "-- ", "GAS, the Genomics Annotation Service",
             "You receive this email because you submitted this job."]
    body.append("<p style=\"color:#666\">GAS, the Genomics Annotation Service. "
                "You receive this email because you submitted this job.</p>")
    document = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>"
                + html.escape(subject, quote=True) + "</title></head><body>"
                + "\n".join(body) + "</body></html>")
    return Email(subject=subject, text="\n".join(text) + "\n", html=document)
