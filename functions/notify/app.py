"""notify: email the user when a job finished.

Trigger: SQS results queue <- SNS job-results. RawMessageDelivery is false, so every SQS body is an
SNS envelope whose ``Message`` is a `gas.messages.JobResult` (the core unwraps it).

Domain call (gas core layer, imported lazily so this module loads without it):
    gas.notify.notify_job_result(result: gas.messages.JobResult, settings: gas.settings.Settings) -> None
It must be idempotent (SQS delivers at least once): at most one email per job, e.g. a conditional
update of the job item before sending. Raising (including `PoisonMessage` for a malformed body)
fails only this record: SQS retries it and, after maxReceiveCount (5), moves it to the results DLQ.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = Logger()


def record_handler(record: SQSRecord) -> None:
    from gas.notify import notify_job_result

    from gas.messages import JobResult, parse_record
    from gas.settings import Settings

    message = parse_record(record.raw_event, JobResult)
    logger.append_keys(job_id=message.job_id, user_id=message.user_id)
    notify_job_result(message, Settings.from_env())


@logger.inject_lambda_context
def lambda_handler(event: dict, context: Any) -> dict:
    # One processor per invocation: a module-level processor shared across threads mixes up results.
    # A batch whose every record failed is reported like any other (no exception): SQS redelivers
    # exactly the failed records and the local poller needs only one code path.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
