"""The jobs page for a user with 1,000 jobs: server-side render time.

Usage: python -m bench.ui_jobs [--jobs 1000] [--repeat 20]

Creates one user with `--jobs` jobs (newest three RUNNING, two FAILED, the rest COMPLETED, a
third of those archived) in an in-process moto DynamoDB provisioned from template.yaml, plus a
second user with as many jobs (so the index holds other partitions too), then runs
ui/views/jobs.py with streamlit's AppTest as the first user and measures:

- process_cold: the first run in this process (imports, the page's first compile, boto3 clients);
- render: each further full run of the page (re-read of the user, one Query of 51 items on the
  by_user index, 50 table rows), `--repeat` times;
- older: a click on "Older jobs →" (the table's fragment rerun with the next page's cursor);
- query: `gas.joblist.list_page` alone (what DynamoDB/moto costs inside a render).

AppTest runs the script in-process without a browser: the times exclude the websocket and the
browser's paint (st.dataframe draws on a canvas), and moto stands in for DynamoDB (no network;
a real Query of 51 small items takes a few ms). Target: render <= 1 s. One JSON object on stdout,
progress on stderr. Numbers on a shared machine are indicative.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "ui" / "views" / "jobs.py"
TARGET_S = 1.0


def log(msg: str) -> None:
    print(f"[bench.ui_jobs] {msg}", file=sys.stderr, flush=True)


def seed_jobs(ddb: Any, table: str, user_id: str, n: int) -> None:
    """`n` jobs of `user_id`, one minute apart, written 25 at a time (BatchWriteItem)."""
    from gas import jobs as J
    from gas.store import to_dynamo

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    for i in range(n):
        at = t0 + timedelta(minutes=i)
        job_id = J.new_job_id(int(at.timestamp() * 1000))
        job = J.new_job(user_id=user_id, input_file=f"sample-{i:04d}.vcf.gz", input_size=10_000 + i,
                        input_key=f"{user_id}/{job_id}/sample-{i:04d}.vcf.gz", job_id=job_id, now=J.to_iso(at))
        newest = n - 1 - i
        job = J.claim(job, "w", J.to_iso(at + timedelta(seconds=3)), stale_after_s=60)
        if newest < 3:
            job = J.heartbeat(job, "w", 0.1 * (newest + 1), J.to_iso(at + timedelta(seconds=4)))
        elif newest < 5:
            job = J.fail(job, "line 7: not a VCF record", J.to_iso(at + timedelta(seconds=5)), worker_id="w")
        else:
            keys = [f"{user_id}/{job_id}/sample-{i:04d}{s}" for s in (".parquet", ".log")]
            job = J.complete(job, "w", 1000 + i, keys, J.to_iso(at + timedelta(seconds=30)))
            if i % 3 == 0:
                job = J.set_results_state(job, "available", "archived", archived_at=J.to_iso(at + timedelta(hours=1)))
        items.append({"PutRequest": {"Item": to_dynamo(job.to_item())}})
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: items[start:start + 25]})


def run_bench(n_jobs: int, repeat: int) -> dict[str, Any]:
    from moto import mock_aws
    from streamlit.testing.v1 import AppTest

    from gas import aws, joblist
    from gas.settings import Settings
    from gas.store import JobStore
    from gas.users import UserStore

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE", "GAS_LOCAL_STACK"):
        os.environ.pop(var, None)
    aws.reset_clients()

    with mock_aws():
        from tests.integration.aws_fixtures import provision
        settings = Settings()
        provision(settings, s3=aws.s3(settings.region), ddb=aws.dynamodb(settings.region),
                  sqs=aws.sqs(settings.region), sns=aws.sns(settings.region))
        users = UserStore(settings)
        user = users.add("bench", "bench@example.org", "free")
        other = users.add("other", "other@example.org", "free")
        t0 = time.perf_counter()
        for u in (user, other):
            seed_jobs(aws.dynamodb(settings.region), settings.jobs_table, u.user_id, n_jobs)
        log(f"seeded {2 * n_jobs} jobs in {time.perf_counter() - t0:.1f} s")

        at = AppTest.from_file(str(PAGE), default_timeout=60)
        at.session_state["user_id"] = user.user_id
        start = time.perf_counter()
        at.run()
        process_cold = time.perf_counter() - start
        _check(at, f"sample-{n_jobs - 1:04d}.vcf.gz")
        log(f"process cold: {process_cold:.3f} s")

        render, older = [], []
        for i in range(repeat):
            start = time.perf_counter()
            at.run()
            render.append(time.perf_counter() - start)
            _check(at)
            [button] = [b for b in at.button if b.label.startswith("Older jobs")]
            start = time.perf_counter()
            button.click().run()
            older.append(time.perf_counter() - start)
            _check(at)
            [back] = [b for b in at.button if b.label.startswith("← Newer")]
            back.click().run()
            log(f"run {i + 1}/{repeat}: render {render[-1]:.3f} s, older page {older[-1]:.3f} s")

        jobs = JobStore(settings)
        query = []
        for _ in range(repeat):
            start = time.perf_counter()
            joblist.list_page(jobs, user.user_id)
            query.append(time.perf_counter() - start)

    def stat(v: list[float]) -> dict[str, float]:
        return {"p50_s": round(statistics.median(v), 3), "max_s": round(max(v), 3), "min_s": round(min(v), 3)}

    result = stat(render)
    return {
        "bench": "ui_jobs", "jobs": n_jobs, "page_size": joblist.PAGE_SIZE, "repeat": repeat,
        "how": "streamlit AppTest of ui/views/jobs.py against in-process moto (no browser, no network)",
        "process_cold_s": round(process_cold, 3), "render": result, "older": stat(older), "query": stat(query),
        "target_s": TARGET_S, "target_met": result["max_s"] <= TARGET_S,
        "cpus": os.cpu_count(), "note": "shared machine: indicative",
    }


def _check(at: Any, first_input: str | None = None) -> None:
    if at.exception:
        raise RuntimeError(f"page raised: {at.exception[0].value}")
    if not at.dataframe or at.dataframe[0].value.empty:
        raise RuntimeError("page drew no table: " + "; ".join(e.value for e in at.error))
    if first_input and at.dataframe[0].value["input"].iloc[0] != first_input:
        raise RuntimeError(f"newest job is {at.dataframe[0].value['input'].iloc[0]}, expected {first_input}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ui_jobs")
    p.add_argument("--jobs", type=int, default=1000, help="jobs of the measured user (and of one other user)")
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)
    print(json.dumps(run_bench(args.jobs, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
