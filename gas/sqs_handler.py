"""The plumbing every SQS-triggered Lambda function shares: one record at a time, partial failures.

A function's app.py supplies only what is specific to it (how a record is parsed and which domain
function it calls); this turns that into a Lambda handler that reports failed records in
`batchItemFailures`, so SQS redelivers exactly those (and the local pollers honour the same list).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger()


def batch_handler(record_handler: Callable[[SQSRecord], None]) -> Callable[[dict, Any], dict]:
    """A Lambda handler running `record_handler` on each record; raising fails only that record."""

    @logger.inject_lambda_context
    def lambda_handler(event: dict, context: Any) -> dict:
        # One processor per invocation: a module-level processor shared across threads mixed up
        # results. A batch whose every record failed is reported like any other (no exception).
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processor, context=context)

    return lambda_handler
