"""archive: move a free user's results to S3 Glacier Flexible Retrieval once the free window ends.

Trigger: SQS archive queue <- SNS archive topic <- the archive state machine's publish task, after
its Wait. RawMessageDelivery is false: every SQS body is an SNS envelope whose ``Message`` is a
`gas.messages.ArchiveRequest` ({"version": 1, "job_id": ..., "user_id": ...}).

Domain call (gas core layer, imported lazily):
    gas.lifecycle.archive_job(request: gas.messages.ArchiveRequest, settings: gas.settings.Settings) -> None
It re-reads the user's plan (a user who upgraded meanwhile keeps STANDARD), copies the result
objects to StorageClass=GLACIER and moves the job's results_state available -> archived with a
conditional update, so a redelivered message is a no-op. Raising fails only this record
(retried, then the archive DLQ).
"""
from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gas.sqs_handler import batch_handler, logger


def record_handler(record: SQSRecord) -> None:
    from gas.lifecycle import archive_job

    from gas.messages import ArchiveRequest, parse_record
    from gas.settings import Settings

    message = parse_record(record.raw_event, ArchiveRequest)
    logger.append_keys(job_id=message.job_id, user_id=message.user_id)
    archive_job(message, Settings.from_env())


lambda_handler = batch_handler(record_handler)
