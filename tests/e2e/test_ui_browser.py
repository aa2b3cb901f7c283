"""The analyst's journey in a real browser on `gas up` (Debian Chromium through Playwright).

Alice signs in, uploads a course VCF straight to S3 from the Submit page, watches the job reach
Completed on the job page, downloads an output through its presigned link, opens the results,
filters them and exports the filtered rows as CSV. Bob, signed in in another browser context,
sees none of it: not in his jobs list, not by typing Alice's job id into the job page, the
results page or the e-mail's `?id=` link. Every page visited is saved as a screenshot in
build/e2e-screenshots/ui-*.png so a person can look at them.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from pathlib import Path

import pytest

from tests.e2e.browser import chromium, screenshot, wait_idle
from tests.e2e.stackproc import free_port, gas, start, stop

ROOT = Path(__file__).resolve().parents[2]
COURSE = Path(os.environ.get("GAS_COURSE_DIR", ROOT.parent / "shared" / "data" / "course"))
VCF = ROOT / "examples" / "course-test.vcf"   # the course's test.vcf (350 records, GRCh37)
NO_SUCH_JOB = "No such job"


def sign_in(page, url: str, email: str, password: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").wait_for()
    page.get_by_label("E-mail").first.fill(email)
    page.get_by_label("Password").first.fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Your jobs").wait_for()
    wait_idle(page)


def data_rows(vcf: Path) -> int:
    """ALT alleles in a VCF: the parquet has one row per ALT."""
    n = 0
    for line in vcf.read_text().splitlines():
        if line and not line.startswith("#"):
            n += len(line.split("\t")[4].split(","))
    return n


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    env = {**os.environ, "GAS_DATA_DIR": str(tmp / "data")}
    port = free_port()
    proc = start(env, tmp / "up.log", workers=1, ui_port=port)
    try:
        users = {}
        for name in ("alice", "bob"):
            made = json.loads(gas(env, "users", "add", name, "--email", f"{name}@example.org", "--json").stdout)
            users[name] = made
        yield {"url": f"http://127.0.0.1:{port}/", "env": env, "users": users, "log": tmp / "up.log"}
    finally:
        stop(proc)


def test_upload_annotate_browse_filter_download_and_isolation(stack) -> None:
    url, users = stack["url"], stack["users"]
    with chromium() as browser:
        alice = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = alice.new_page()
        sign_in(page, url, "alice@example.org", users["alice"]["password"])
        page.get_by_text("You have no jobs yet").wait_for()
        screenshot(page, "ui-jobs-empty")

        # Submit: the browser posts the file to S3 itself; the job exists once it is checked
        page.goto(url + "submit")
        page.get_by_text("Free plan").first.wait_for()
        page.locator('[data-testid="gasUploadInput"]').set_input_files(str(VCF))
        status = page.locator('[data-testid="gasUploadStatus"]')
        page.get_by_text(re.compile(r"Job [0-9a-f]{32} submitted\.")).wait_for(timeout=60_000)
        job_id = re.search(r"Job ([0-9a-f]{32}) submitted", page.content()).group(1)
        assert "100" in status.inner_text() or status.count() == 1
        screenshot(page, "ui-submit-done")

        # Job detail: refreshes itself until the worker is done
        page.goto(f"{url}job?job={job_id}")
        page.get_by_text("Completed", exact=True).first.wait_for(timeout=120_000)
        page.get_by_role("link", name="Download").first.wait_for(timeout=30_000)
        wait_idle(page)
        assert "course-test.vcf" in page.content()
        screenshot(page, "ui-job-completed")
        links = page.get_by_role("link", name="Download")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert len(hrefs) == 5                                          # vcf.gz, 2 parquet, summary, log
        summary_url = next(h for h in hrefs if ".summary.json" in h)
        assert "X-Amz-Expires=" in summary_url                          # a presigned, expiring GET
        summary = json.loads(alice.request.get(summary_url).body())
        expected = data_rows(VCF)
        assert summary["alleles"] == expected and summary["input"] == "course-test.vcf"
        vcf_url = next(h for h in hrefs if ".annot.vcf.gz" in h)
        annotated = gzip.decompress(alice.request.get(vcf_url).body()).decode()
        assert "##INFO=<ID=CSQ" in annotated

        # Jobs list: the job is there
        page.goto(url)
        page.get_by_text("Your jobs").wait_for()
        wait_idle(page)
        page.wait_for_timeout(500)                                       # let the canvas table paint
        screenshot(page, "ui-jobs")

        # Results: table, filter, CSV export of the filtered rows
        page.goto(f"{url}results?job={job_id}")
        counter = page.get_by_text(re.compile(r"matching variants of"))
        counter.wait_for(timeout=60_000)
        wait_idle(page)
        total_text = counter.inner_text()
        total = int(re.search(r"([\d,]+) matching variants of ([\d,]+)", total_text).group(2).replace(",", ""))
        assert total == expected
        screenshot(page, "ui-results")
        page.get_by_role("textbox", name="Search").fill("upstream_gene")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_function(
            "(t) => [...document.querySelectorAll('p')].some(p => p.innerText.includes('matching variants of')"
            " && !p.innerText.startsWith(t))", arg=total_text.split(" ")[0], timeout=30_000)
        wait_idle(page)
        filtered_text = page.get_by_text(re.compile(r"matching variants of")).inner_text()
        filtered = int(re.search(r"([\d,]+) matching", filtered_text).group(1).replace(",", ""))
        assert 0 < filtered < total
        screenshot(page, "ui-results-filtered")
        with page.expect_download() as dl:
            page.get_by_role("button", name=re.compile(r"^CSV")).click()
        rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
        assert len(rows) == filtered and all("upstream_gene_variant" in r["consequence"] for r in rows)

        page.goto(url + "account")
        page.get_by_role("heading", name="Account").wait_for()
        page.get_by_text("alice@example.org").wait_for()
        wait_idle(page)
        screenshot(page, "ui-account")
        page.goto(url + "outbox")                      # the completion e-mail, addressed to Alice
        page.get_by_role("heading", name="Outbox").wait_for()
        page.get_by_text(re.compile(job_id[:8])).first.wait_for(timeout=30_000)
        wait_idle(page)
        screenshot(page, "ui-outbox")
        alice.close()

        # Bob sees nothing of Alice's
        bob = browser.new_context(viewport={"width": 1280, "height": 900})
        page = bob.new_page()
        sign_in(page, url, "bob@example.org", users["bob"]["password"])
        page.get_by_text("You have no jobs yet").wait_for()
        for path in (f"job?job={job_id}", f"job?id={job_id}", f"results?job={job_id}"):
            page.goto(url + path)
            page.get_by_text(NO_SUCH_JOB).first.wait_for(timeout=20_000)
            wait_idle(page)
            assert "course-test.vcf" not in page.content()
        screenshot(page, "ui-other-user-refused")
        bob.close()


def test_signed_out_visitor_gets_only_the_sign_in_page(stack) -> None:
    with chromium() as browser:
        page = browser.new_page()
        for path in ("", "jobs", "job?job=" + "0" * 32, "results", "submit", "account"):
            page.goto(stack["url"] + path)
            page.get_by_role("button", name="Sign in").wait_for()
            wait_idle(page)
            assert "Your jobs" not in page.content()
        screenshot(page, "ui-signin")


HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">.vcf'
HOSTILE_ID = "<script>window.__pwned=2</script>"
HOSTILE_INFO = "NOTE=<img src=x onerror=window.__pwned=3>"


def assert_nothing_ran(page) -> None:
    """Checked on each page before leaving it: navigation starts a fresh window object."""
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator('img[src="x"]').count() == 0   # no markup became an element


def test_markup_in_a_file_name_and_in_the_vcf_is_shown_as_text_never_run(stack, tmp_path: Path) -> None:
    """A file name and VCF fields carrying markup reach every page as text: no script runs, the
    literal characters are visible, and the results table shows the ID as written."""
    lines = VCF.read_text().splitlines()
    header = [ln for ln in lines if ln.startswith("#")]
    body = [ln.split("\t") for ln in lines if ln and not ln.startswith("#")][:20]
    body[0][2] = HOSTILE_ID
    body[1][7] = body[1][7] + ";" + HOSTILE_INFO
    hostile = tmp_path / HOSTILE_NAME
    hostile.write_text("\n".join(header + ["\t".join(r) for r in body]) + "\n")

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        sign_in(page, stack["url"], "alice@example.org", stack["users"]["alice"]["password"])
        page.goto(stack["url"] + "submit")
        page.get_by_text("Free plan").first.wait_for()
        page.locator('[data-testid="gasUploadInput"]').set_input_files(str(hostile))
        page.get_by_text(re.compile(r"Job [0-9a-f]{32} submitted\.")).wait_for(timeout=60_000)
        job_id = re.search(r"Job ([0-9a-f]{32}) submitted", page.content()).group(1)

        page.goto(f"{stack['url']}job?job={job_id}")
        page.get_by_text("Completed", exact=True).first.wait_for(timeout=120_000)
        wait_idle(page)
        page.get_by_text(HOSTILE_NAME.removesuffix(".vcf"), exact=False).first.wait_for()
        screenshot(page, "ui-hostile-job")
        assert_nothing_ran(page)
        page.goto(f"{stack['url']}results?job={job_id}")
        page.get_by_text(re.compile(r"matching variants of")).wait_for(timeout=60_000)
        page.get_by_role("textbox", name="Search").fill("script")
        page.get_by_role("button", name="Apply").click()
        page.get_by_text(re.compile(r"^1 matching variants of")).wait_for(timeout=30_000)
        wait_idle(page)
        screenshot(page, "ui-hostile-results")
        assert_nothing_ran(page)
        for path, title in (("", "Your jobs"), ("outbox", "Outbox")):
            page.goto(stack["url"] + path)
            page.get_by_role("heading", name=title).wait_for()
            wait_idle(page)
            assert_nothing_ran(page)
        context.close()
