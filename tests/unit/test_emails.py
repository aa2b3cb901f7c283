"""The job email: subject and bodies, HTML escaping, FAILED wording, a missing summary."""
from __future__ import annotations

import html
import re

import pytest

from gas import emails as E
from gas.jobs import Job, Status

JOB = "0190f3a1b2c3d4e5f6a7b8c9d0e1f2a3"
APP = "https://gas.example.org"
SUMMARY = {
    "records": 350, "alleles": 352,
    "by_consequence": {"intron_variant": 120, "missense_variant": 40, "synonymous_variant": 35,
                       "stop_gained": 2, "upstream_gene_variant": 80, "splice_region_variant": 9,
                       "frameshift_variant": 1},
    "by_impact": {"HIGH": 3, "MODERATE": 40, "LOW": 44, "MODIFIER": 265},
    "contigs_skipped": {},
    "fasta": "/secret/path/ref.fa",
}


def job(**kw) -> Job:
    d = {"job_id": JOB, "user_id": "alice", "status": Status.COMPLETED, "input_file": "sample.vcf.gz",
         "input_key": f"alice/{JOB}/sample.vcf.gz", "input_size": 1000,
         "submitted_at": "2026-11-20T12:00:00.000Z", "completed_at": "2026-11-20T12:01:00.000Z",
         "variants": 352}
    return Job(**(d | kw))


def visible_text(document: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", document))


def test_completed_email_has_id_name_status_count_top_consequences_impacts_and_link():
    mail = E.render_job_email(job(), SUMMARY, APP)
    assert "sample.vcf.gz" in mail.subject and "ready" in mail.subject
    link = f"{APP}/job?id={JOB}"
    for body in (mail.text, visible_text(mail.html)):
        assert JOB in body and "sample.vcf.gz" in body and "COMPLETED" in body
        assert "352" in body
        assert "intron_variant: 120" in body and "missense_variant: 40" in body
        assert "frameshift_variant" not in body  # only the top 5
        assert "HIGH 3" in body and "MODIFIER 265" in body
        assert "summary not available" not in body
    assert link in mail.text and f'href="{link}"' in mail.html
    # the order is by count, highest first
    assert mail.text.index("intron_variant") < mail.text.index("upstream_gene_variant") \
        < mail.text.index("missense_variant")
    # nothing from the summary that is not meant for the user, no signed URL
    for body in (mail.text, mail.html):
        assert "/secret/path" not in body
        assert "X-Amz-" not in body and "Signature" not in body


def test_large_counts_are_grouped():
    mail = E.render_job_email(job(variants=1234567), SUMMARY, APP)
    assert "1,234,567" in mail.text


def test_malicious_file_name_is_escaped_in_html():
    evil = '<script>x</script>.vcf'
    mail = E.render_job_email(job(input_file=evil), SUMMARY, APP)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;x&lt;/script&gt;.vcf" in mail.html
    assert evil in mail.text  # plain text shows it as is
    attr = '"><img src=x onerror=alert(1)>.vcf'
    mail = E.render_job_email(job(input_file=attr), SUMMARY, APP)
    assert "<img" not in mail.html and "&quot;&gt;&lt;img" in mail.html


def test_vcf_derived_summary_strings_are_escaped():
    summary = {"by_consequence": {"<b>odd</b>": 3}, "by_impact": {"<i>X</i>": 1}}
    mail = E.render_job_email(job(), summary, APP)
    assert "<b>odd</b>" not in mail.html and "&lt;b&gt;odd&lt;/b&gt;" in mail.html
    assert "<i>X</i>" not in mail.html


def test_control_characters_cannot_forge_lines_or_headers():
    mail = E.render_job_email(job(input_file="a\r\nBcc: x@evil.test\u202e.vcf"), SUMMARY, APP)
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert "\u202e" not in mail.text and "\u202e" not in mail.html
    assert not any(line.startswith("Bcc:") for line in mail.text.splitlines())


def test_failed_email_gives_the_reason_in_words():
    reason = "line 5: POS 'notanumber' is not a positive integer"
    mail = E.render_job_email(job(status=Status.FAILED, variants=None, error=reason), None, APP)
    assert "failed" in mail.subject
    assert f"The annotation failed: {reason}." in mail.text
    assert "The annotation failed: line 5: POS &#x27;notanumber&#x27; is not a positive integer." in mail.html
    assert "FAILED" in mail.text and JOB in mail.text and f"{APP}/job?id={JOB}" in mail.text
    assert "summary not available" not in mail.text and "Variants" not in mail.text


def test_failed_reason_falls_back_to_the_message_and_to_words():
    mail = E.render_job_email(job(status=Status.FAILED, variants=None), None, APP, error="bad <input>")
    assert "The annotation failed: bad <input>." in mail.text
    assert "bad &lt;input&gt;" in mail.html
    mail = E.render_job_email(job(status=Status.FAILED, variants=None), None, APP)
    assert "no reason was recorded" in mail.text


@pytest.mark.parametrize("summary", [None, {}, "nonsense", {"by_consequence": "x", "by_impact": [1]}])
def test_summary_missing_or_unusable(summary):
    mail = E.render_job_email(job(), summary, APP)
    assert "summary not available" in mail.text and "summary not available" in mail.html
    assert "352" in mail.text  # the count comes from the job, not the summary


def test_variant_count_falls_back_to_the_message():
    mail = E.render_job_email(job(variants=None), None, APP, variants=7)
    assert "Variants annotated: 7" in mail.text


def test_digest_ignores_bad_entries_and_orders_impacts():
    d = E.digest_summary({"by_consequence": {"a": 2, "b": "3", "c": True, "d": -1, "e": 0, "f": 5.0},
                          "by_impact": {"LOW": 1, "HIGH": 2, "ZED": 3}, "contigs_skipped": {"chrUn": 4}})
    assert d.top_consequences == [("f", 5), ("a", 2)]
    assert d.impacts == [("HIGH", 2), ("LOW", 1), ("ZED", 3)]
    assert d.records_skipped == 4


def test_skipped_contigs_are_mentioned():
    mail = E.render_job_email(job(), dict(SUMMARY, contigs_skipped={"chrUn_1": 3}), APP)
    assert "3 records on contigs" in mail.text


def test_unfinished_job_and_bad_id_are_refused():
    with pytest.raises(ValueError):
        E.render_job_email(job(status=Status.RUNNING, variants=None), None, APP)
    with pytest.raises(ValueError):
        E.job_link(APP, "../etc")
    assert E.job_link(APP + "/", JOB) == f"{APP}/job?id={JOB}"
