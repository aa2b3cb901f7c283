"""SQS -> function event-source emulation: what Lambda's SQS event source mapping does, in-process.

moto runs no Lambda code without Docker and its event source mappings invoke nothing, so the local
stack runs one thread per SQS event of each `FunctionSpec` (from `gas.local.provision`). Each thread:

1. long-polls its queue (``WaitTimeSeconds`` ``wait_s``, at most 20; short in tests) for up to
   ``BatchSize`` messages (at most 10 per receive, like one Lambda poller batch without a batching
   window), asking for every system and message attribute;
2. builds the exact Lambda SQS event (``Records`` with ``messageId``, ``receiptHandle``, ``body``,
   ``attributes`` incl. ``ApproximateReceiveCount``, ``messageAttributes`` in Lambda's lower-camel
   form, ``md5OfBody``, ``eventSource`` ``aws:sqs``, ``eventSourceARN``, ``awsRegion``);
3. calls ``lambda_handler(event, context)`` of the function's own module object, imported from its
   file (``functions/<name>/app.py``) under a unique module name, so no two functions share state;
4. deletes the records that succeeded. With ``ReportBatchItemFailures`` these are the records not
   listed in ``batchItemFailures``; a response naming an unknown or empty ``itemIdentifier`` fails
   the whole batch, as Lambda does. A handler exception fails the whole batch. Failed records are
   left alone: they come back after the queue's visibility timeout and the queue's redrive policy
   moves them to the DLQ after ``maxReceiveCount`` receives (moto does that, not us).

``failed_visibility_s`` (default None = faithful) optionally shortens the wait before a failed record
is redelivered (``ChangeMessageVisibility``) - the template's 180-1800 s timeouts make local
retries slow. Function-level environment variables (``POWERTOOLS_SERVICE_NAME``) are set only while
the module is imported (Powertools reads them when the ``Logger`` is built): all functions share one
process environment, which holds the template's Globals variables.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gas.local.environ import patched_environ
from gas.local.provision import FunctionSpec, SqsEventSource

log = logging.getLogger("gas.local.pollers")

MAX_WAIT_S = 20


# ----------------------------------------------------------------------------- handler loading

_import_lock = threading.Lock()


def load_handler(spec: FunctionSpec) -> Callable[[dict[str, Any], Any], Any]:
    """Import the function's module from its file as its own module object; return its handler."""
    path = spec.module_file
    module_name = f"gas_local_fn_{spec.logical_id}_{uuid.uuid4().hex[:8]}"
    with _import_lock:
        # the function's own variables only while importing: the process env keeps the Globals only
        with patched_environ(spec.environment):
            mod_spec = importlib.util.spec_from_file_location(module_name, path)
            if mod_spec is None or mod_spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[module_name] = module  # dataclasses/pydantic inside the module look it up
            mod_spec.loader.exec_module(module)
    handler = getattr(module, spec.handler_function, None)
    if not callable(handler):
        raise ImportError(f"{path}: no callable {spec.handler_function!r}")
    return handler


@dataclass
class LambdaContext:
    """The parts of the Lambda context object handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# ----------------------------------------------------------------------------- events

def _message_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """boto3's MessageAttributes -> the Lambda event's lower-camel form."""
    out = {}
    for name, a in attrs.items():
        binary = a.get("BinaryValue")
        out[name] = {
            "stringValue": a.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
            "stringListValues": a.get("StringListValues", []),
            "binaryListValues": [base64.b64encode(b).decode() for b in a.get("BinaryListValues", [])],
            "dataType": a.get("DataType"),
        }
        out[name] = {k: v for k, v in out[name].items() if v is not None}
    return out


def sqs_event(messages: Iterable[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The Lambda SQS event for boto3 ``receive_message`` messages."""
    records = []
    for m in messages:
        body = m["Body"]
        rec = {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": body,
            "attributes": dict(m.get("Attributes", {})),
            "messageAttributes": _message_attributes(m.get("MessageAttributes", {})),
            "md5OfBody": m.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if m.get("MD5OfMessageAttributes"):
            rec["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"]
        records.append(rec)
    return {"Records": records}


def failed_ids(response: Any, event: dict[str, Any], report_failures: bool) -> set[str]:
    """messageIds to keep (redeliver), from a handler's response, the way Lambda reads it."""
    all_ids = {r["messageId"] for r in event["Records"]}
    if not report_failures:
        return set()
    if response is None:
        return set()
    if not isinstance(response, dict):
        return all_ids
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return all_ids
    out = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in all_ids:  # Lambda: invalid response -> the whole batch failed
            return all_ids
        out.add(ident)
    return out


# ----------------------------------------------------------------------------- pollers

@dataclass
class PollerStats:
    batches: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0
    errors: int = 0
    last_error: str | None = None


class QueuePoller(threading.Thread):
    """One SQS event source of one function, until `stop` is set."""

    def __init__(self, spec: FunctionSpec, source: SqsEventSource, sqs: Any, region: str,
                 stop: threading.Event, *, wait_s: int = MAX_WAIT_S,
                 failed_visibility_s: int | None = None,
                 handler: Callable[[dict[str, Any], Any], Any] | None = None) -> None:
        super().__init__(name=f"poller-{spec.logical_id}-{source.name}", daemon=True)
        self.spec = spec
        self.source = source
        self.sqs = sqs
        self.region = region
        self.stop_event = stop
        self.wait_s = max(0, min(MAX_WAIT_S, wait_s))
        self.failed_visibility_s = failed_visibility_s
        self.handler = handler or load_handler(spec)
        self.stats = PollerStats()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # a poller never dies: log, back off, retry
                if self.stop_event.is_set():
                    break
                self.stats.errors += 1
                self.stats.last_error = repr(exc)
                log.warning("%s: %r", self.name, exc)
                self.stop_event.wait(1.0)

    def poll_once(self) -> int:
        """Receive one batch, invoke, delete the successes. Returns the number of records received."""
        resp = self.sqs.receive_message(
            QueueUrl=self.source.queue_url, MaxNumberOfMessages=max(1, min(10, self.source.batch_size)),
            WaitTimeSeconds=self.wait_s, MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"])
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        self.stats.batches += 1
        self.stats.received += len(messages)
        event = sqs_event(messages, self.source.queue_arn, self.region)
        context = LambdaContext(function_name=self.spec.name, memory_limit_in_mb=self.spec.memory_mb,
                                timeout_s=self.spec.timeout_s,
                                invoked_function_arn=f"arn:aws:lambda:{self.region}:123456789012:function:"
                                                     f"{self.spec.name}")
        started = time.monotonic()
        try:
            response = self.handler(event, context)
            failed = failed_ids(response, event, self.source.report_batch_item_failures)
        except Exception as exc:
            log.exception("%s: handler raised; the whole batch of %d is retried", self.spec.name, len(messages))
            self.stats.last_error = repr(exc)
            failed = {r["messageId"] for r in event["Records"]}
        elapsed = time.monotonic() - started
        if elapsed > self.spec.timeout_s:
            log.warning("%s: invocation took %.1f s, over its %d s timeout (Lambda would have killed it)",
                        self.spec.name, elapsed, self.spec.timeout_s)
        ok = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(ok), 10):
            chunk = ok[i:i + 10]
            out = self.sqs.delete_message_batch(QueueUrl=self.source.queue_url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(chunk)])
            if out.get("Failed"):
                log.warning("%s: delete failed for %s", self.spec.name, out["Failed"])
        self.stats.deleted += len(ok)
        self.stats.failed += len(failed)
        if failed and self.failed_visibility_s is not None:
            for m in messages:
                if m["MessageId"] in failed:
                    self.sqs.change_message_visibility(QueueUrl=self.source.queue_url,
                                                       ReceiptHandle=m["ReceiptHandle"],
                                                       VisibilityTimeout=self.failed_visibility_s)
        return len(messages)


class Pollers:
    """Every SQS event source of `functions`, started and stopped together."""

    def __init__(self, functions: dict[str, FunctionSpec] | Iterable[FunctionSpec], sqs: Any, region: str, *,
                 wait_s: int = MAX_WAIT_S, failed_visibility_s: int | None = None) -> None:
        specs = list(functions.values()) if isinstance(functions, dict) else list(functions)
        self.stop_event = threading.Event()
        self.threads: list[QueuePoller] = []
        for spec in specs:
            sources = [s for s in spec.sqs_events if s.enabled]
            if not sources:
                continue
            handler = load_handler(spec)  # one module object per function, shared by its sources
            for source in sources:
                self.threads.append(QueuePoller(spec, source, sqs, region, self.stop_event, wait_s=wait_s,
                                                failed_visibility_s=failed_visibility_s, handler=handler))

    def start(self) -> "Pollers":
        for t in self.threads:
            t.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask every poller to stop; each finishes its current batch (and long poll) first."""
        self.stop_event.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self.threads:
            if t.is_alive():
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def alive(self) -> bool:
        return bool(self.threads) and all(t.is_alive() for t in self.threads)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {t.name: vars(t.stats) for t in self.threads}

    def __enter__(self) -> "Pollers":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def context_for(spec: FunctionSpec, region: str = "us-east-1") -> Any:
    """A Lambda context for calling a handler by hand (tests, REPL)."""
    return LambdaContext(function_name=spec.name, memory_limit_in_mb=spec.memory_mb, timeout_s=spec.timeout_s,
                         invoked_function_arn=f"arn:aws:lambda:{region}:123456789012:function:{spec.name}")


__all__ = ["Pollers", "QueuePoller", "LambdaContext", "load_handler", "sqs_event", "failed_ids", "context_for"]
