"""The annotator worker: long-polls the requests queue and hands each message to `JobRunner`.

    python -m annotator.worker [--once] [--worker-id ID] [--grace-s S]

A thin edge: all decisions live in `annotator.jobrun` (unit-tested with fakes). This module
only receives messages one at a time (a worker never holds a message it is not working on),
and turns SIGTERM/SIGINT into "stop polling, finish or give up the current job".
Configuration is the GAS_* environment (gas.settings) plus GAS_CACHE_DIR for the bundles; the
timings follow the queue's VisibilityTimeout, GAS_STALE_AFTER_S / GAS_HEARTBEAT_S override (`timing_config`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from annotator.jobrun import (
    MAX_VISIBILITY_S,
    JobRunner,
    Received,
    RunConfig,
    aws_runner,
)
from gas import aws
from gas.settings import Settings

log = logging.getLogger("gas.worker")

WAIT_TIME_S = 20  # SQS long poll maximum: cheap when idle, immediate when a message arrives


class Worker:
    """Receive -> process, until stopped (or, with `once`, until the queue looks empty)."""

    def __init__(self, runner: JobRunner, sqs: Any, queue_url: str) -> None:
        self.runner, self.sqs, self.queue_url = runner, sqs, queue_url

    def receive(self, wait_s: int) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"]).get("Messages", [])

    def run(self, once: bool = False) -> dict[str, int]:
        """Process messages; returns how many ended in each Outcome (for logs and tests)."""
        counts: dict[str, int] = {}
        while not self.runner.stopping.is_set():
            try:
                messages = self.receive(0 if once else WAIT_TIME_S)
            except Exception:
                if once:
                    raise
                log.exception("receive failed; retrying")
                self.runner.stopping.wait(5)
                continue
            if not messages:
                if once:
                    break
                continue
            for m in messages:
                if self.runner.stopping.is_set():  # SIGTERM arrived during the poll: hand it back
                    self.runner.queue.set_visibility(m["ReceiptHandle"], 0)
                    continue
                outcome = self.runner.process(Received.from_sqs(m))
                counts[outcome.value] = counts.get(outcome.value, 0) + 1
                log.info("message %s: %s", m.get("MessageId"), outcome.value)
        return counts


def queue_url(sqs: Any, name_or_url: str) -> str:
    """Settings carry the queue name (template.yaml passes QueueName); a URL is used as is."""
    if name_or_url.startswith(("https://", "http://")):
        return name_or_url
    return sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"]


def max_receive_count(sqs: Any, url: str, default: int = 3) -> int:
    """The queue's redrive maxReceiveCount (the worker fails a job on its last attempt)."""
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
        return int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])
    except Exception:  # noqa: BLE001 - no redrive policy or no permission: assume the template's
        return default


def visibility_timeout(sqs: Any, url: str, default: int = 300) -> int:
    """The queue's VisibilityTimeout (template parameter RequestVisibilitySeconds, 300 on AWS)."""
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        return int(attrs["VisibilityTimeout"])
    except Exception:  # noqa: BLE001 - no permission or no attribute: assume the template's default
        return default


def timing_config(visibility_s: int, environ: Any = None, **kw: Any) -> RunConfig:
    """RunConfig timings for a queue whose VisibilityTimeout is `visibility_s`.

    Each heartbeat extends the message by `visibility_s`, every min(60, visibility_s / 5) s
    (GAS_HEARTBEAT_S overrides). GAS_JOB_TIME_LIMIT_S overrides one job's time limit
    (jobrun.DEFAULT_TIME_LIMIT_S). A job whose heartbeat is older than GAS_STALE_AFTER_S (default
    DEFAULT_STALE_AFTER_S = 300) is re-claimable. With the template's 300 s this is the old
    60 s / 300 s / 300 s; a local stack with a short visibility (`gas up --request-visibility`)
    sets GAS_STALE_AFTER_S so that a dead worker's job is stale when its message reappears.
    """
    environ = os.environ if environ is None else environ
    cfg = RunConfig(visibility_s=int(visibility_s), **kw)
    cfg.heartbeat_every_s = float(environ.get("GAS_HEARTBEAT_S") or min(60.0, visibility_s / 5))
    if environ.get("GAS_STALE_AFTER_S"):
        cfg.stale_after_s = float(environ["GAS_STALE_AFTER_S"])
    if environ.get("GAS_JOB_TIME_LIMIT_S"):
        cfg.time_limit_s = float(environ["GAS_JOB_TIME_LIMIT_S"])
    if cfg.time_limit_s + cfg.visibility_s > MAX_VISIBILITY_S:
        log.warning("job time limit %.0f s is beyond what SQS lets a message stay invisible (%d s): "
                    "a longer job's message would be delivered again while it runs",
                    cfg.time_limit_s, MAX_VISIBILITY_S)
    if cfg.stale_after_s < 2 * cfg.heartbeat_every_s:
        log.warning("stale-after %.0f s is less than two heartbeats (%.0f s): live jobs may be taken over",
                    cfg.stale_after_s, cfg.heartbeat_every_s)
    return cfg


def build(settings: Settings, worker_id: str, *, grace_s: float = 60.0, genome: str | None = None,
          cache_dir: Path | None = None, config: RunConfig | None = None) -> Worker:
    """A Worker on the real (or moto) services named by `settings`."""
    sqs = aws.sqs(settings.region)
    url = queue_url(sqs, settings.requests_queue)
    config = config or timing_config(visibility_timeout(sqs, url), grace_s=grace_s,
                                     max_receive_count=max_receive_count(sqs, url))
    if cache_dir is None and os.environ.get("GAS_CACHE_DIR"):
        cache_dir = Path(os.environ["GAS_CACHE_DIR"])
    runner = aws_runner(settings, worker_id, queue_url=url, genome=genome, cache_dir=cache_dir, config=config)
    return Worker(runner, sqs, url)


def install_signals(worker: Worker) -> dict[int, Any]:
    """SIGTERM (systemd stop, scale-in) and SIGINT: stop polling; the current job gets the grace.
    Returns the previous handlers so an in-process caller (tests) can put them back."""
    def handler(signum: int, frame: FrameType | None) -> None:
        log.warning("signal %d: stopping after the current job (grace %.0f s)", signum,
                    worker.runner.config.grace_s)
        worker.runner.shutdown()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    return previous


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None,
         config: RunConfig | None = None) -> int:
    """Entry point; `settings`/`config` let tests run it in-process against moto."""
    parser = argparse.ArgumentParser(prog="python -m annotator.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="process what is queued now, then exit")
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
    parser.add_argument("--grace-s", type=float, default=60.0,
                        help="after SIGTERM, how long the current job may still run before it is released")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("GAS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings or Settings.from_env()
    worker = build(settings, args.worker_id, grace_s=args.grace_s, config=config)
    previous = install_signals(worker)
    cfg = worker.runner.config
    log.info("worker %s polling %s (genome %s; visibility %d s, heartbeat %.0f s, stale after %.0f s)",
             args.worker_id, worker.queue_url, settings.genome, cfg.visibility_s, cfg.heartbeat_every_s,
             cfg.stale_after_s)
    try:
        counts = worker.run(once=args.once)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    log.info("worker %s stopped: %s", args.worker_id, counts or "no messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
