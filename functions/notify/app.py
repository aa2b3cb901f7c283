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

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gas.sqs_handler import batch_handler, logger


def record_handler(record: SQSRecord) -> None:
    from gas.notify import notify_job_result

    from gas.messages import JobResult, parse_record
    from gas.settings import Settings

    message = parse_record(record.raw_event, JobResult)
    logger.append_keys(job_id=message.job_id, user_id=message.user_id)
    notify_job_result(message, Settings.from_env())


lambda_handler = batch_handler(record_handler)
