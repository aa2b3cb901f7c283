"""Shared pieces of the reliability suite: a `gas up` stack driven from outside, synthetic inputs,
and the record of measured numbers.

Every fault run appends one JSON line to ``build/reliability/measurements.jsonl`` (jobs, faults,
losses, duplicates, wall time, the command and the time it ran), so docs/reliability.md cites
numbers that a run produced, never estimates.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from tests.e2e.stackproc import ROOT, gas, start, stop

MEASUREMENTS = ROOT / "build" / "reliability" / "measurements.jsonl"
HOST = socket.gethostname()


def full_run() -> bool:
    """`make reliability` sets GAS_RELIABILITY_FULL=1: the big parameters; else the small ones."""
    return os.environ.get("GAS_RELIABILITY_FULL", "") not in ("", "0")


def record(test: str, **numbers: Any) -> dict[str, Any]:
    """Append one measurement (and print it: `pytest -s` shows it)."""
    row = {"test": test, "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "full": full_run(), "argv": " ".join(sys.argv[-3:]), **numbers}
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    with MEASUREMENTS.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print("\nMEASURED " + json.dumps(row))
    return row


def synthetic_vcf(path: Path, n: int, seed: int) -> Path:
    """`n` sorted chr20 SNVs (GRCh37 coordinates; no FASTA needed: the bundle has no sequence)."""
    rng = random.Random(seed)
    positions = sorted(rng.sample(range(60_000, 62_900_000), n))
    with gzip.open(path, "wt", compresslevel=1) as f:
        f.write("##fileformat=VCFv4.2\n##contig=<ID=20>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for p in positions:
            ref = rng.choice("ACGT")
            f.write(f"20\t{p}\trs{p}\t{ref}\t{rng.choice([b for b in 'ACGT' if b != ref])}\t50\tPASS\tDP={p % 97}\n")
    return path


def load_function(name: str):
    """functions/<name>/app.py's lambda_handler, imported as its own module (as the pollers do)."""
    import importlib.util
    import uuid
    path = ROOT / "functions" / name / "app.py"
    mod_name = f"gas_rel_fn_{name}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module.lambda_handler


def handler_event(messages: list[dict[str, Any]], sqs: Any, queue_url: str) -> dict[str, Any]:
    """The Lambda SQS event for boto3-received `messages` (what Lambda and the local pollers build)."""
    from gas.local.pollers import sqs_event
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs_event(messages, arn, sqs.meta.region_name)


def sent_mail(region: str) -> list:
    """What moto's SES "sent" in this process (SES v2 delegates to the v1 backend)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends
    return list(ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages)


def lambda_context(name: str = "gas-test-function"):
    from gas.local.pollers import LambdaContext
    return LambdaContext(function_name=name, memory_limit_in_mb=256, timeout_s=30,
                         invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}")


class Stack:
    """`gas up --no-ui` in a subprocess (GRCh37), with boto3 clients on its moto endpoint."""

    def __init__(self, data: Path, log: Path, workers: int, extra: list[str]) -> None:
        self.data, self.log = data, log
        self.env = {**os.environ, "GAS_DATA_DIR": str(data), "GAS_LOG_LEVEL": "WARNING"}
        self.env.pop("GAS_STALE_AFTER_S", None)
        self.proc = start(self.env, log, workers=workers, extra=extra)
        info = self.info()
        self.senv = info["env"]
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name=self.senv["AWS_REGION"])
        self.ddb = session.client("dynamodb", endpoint_url=info["endpoint"])
        self.s3 = session.client("s3", endpoint_url=info["endpoint"])
        self.sqs = session.client("sqs", endpoint_url=info["endpoint"])

    def info(self) -> dict[str, Any]:
        return json.loads((self.data / "stack.json").read_text())

    def workers(self) -> dict[str, int]:
        return {n: p for n, p in self.info()["children"].items() if n.startswith("worker-")}

    def gas(self, *args: str, check: bool = True):
        return gas(self.env, *args, check=check)

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every job item (plain values), by job id (a paginated scan: test-side inspection only)."""
        out: dict[str, dict[str, Any]] = {}
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.senv["GAS_JOBS_TABLE"],
                                                             ConsistentRead=True):
            for it in page["Items"]:
                if "status" not in it:
                    continue
                plain = {k: next(iter(v.values())) for k, v in it.items()}
                out[plain["job_id"]] = plain
        return out

    def result_objects(self) -> dict[str, list[str]]:
        """Result keys by job id."""
        out: dict[str, list[str]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.senv["GAS_RESULTS_BUCKET"]):
            for o in page.get("Contents", []):
                out.setdefault(o["Key"].split("/")[1], []).append(o["Key"])
        return out

    def queue_depths(self) -> dict[str, int]:
        """Visible + in-flight messages of every GAS queue and DLQ."""
        out = {}
        for var in ("GAS_REQUESTS_QUEUE", "GAS_RESULTS_QUEUE", "GAS_ARCHIVE_QUEUE", "GAS_THAW_QUEUE",
                    "GAS_RESTORE_QUEUE"):
            for name in (self.senv[var], self.senv[var] + "-dlq"):
                url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
                a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
                out[name] = int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
        return out

    def emails_by_job(self, job_ids: set[str]) -> dict[str, int]:
        from gas.local.outbox import read_outbox
        counts = dict.fromkeys(job_ids, 0)
        for m in read_outbox(self.data):
            blob = (m["text"] or "") + (m["subject"] or "") + (m["html"] or "")
            for j in job_ids:
                if j in blob:
                    counts[j] += 1
        return counts

    def client(self, user: str):
        from gas.client import Client
        return Client(self.data, user=user)

    def stop(self) -> None:
        stop(self.proc)


def wait_until(predicate, timeout_s: float, poll_s: float = 1.0, what: str = "condition",
               check: bool = True) -> bool:
    """Poll `predicate` until true; False (or AssertionError with `check`) after `timeout_s`."""
    t0 = time.monotonic()
    while True:
        if predicate():
            return True
        if time.monotonic() - t0 > timeout_s:
            if check:
                raise AssertionError(f"{what} not reached in {timeout_s:.0f} s")
            return False
        time.sleep(poll_s)


GIVE_UP = "the annotation was interrupted"   # annotator.jobrun.JobRunner._give_up's reason
