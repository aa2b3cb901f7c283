"""restore: finish a thaw once S3 says the temporary copy of an archived object is readable.

Trigger: SQS restore queue <- SNS restore topic <- the results bucket's ``s3:ObjectRestore:Completed``
event notification. RawMessageDelivery is false: every SQS body is an SNS envelope whose
``Message`` is the S3 event JSON (``{"Records": [...]}``). `gas.messages.restore_events` unwraps
it, skips the ``s3:TestEvent`` S3 sends when the notification is configured, URL-decodes keys and
maps each key back to its job (a key outside the results layout is a `PoisonMessage`).

Domain call (gas core layer, imported lazily), once per completed restore in the record:
    gas.lifecycle.complete_restore(event: gas.messages.RestoreEvent, settings: gas.settings.Settings) -> None
It copies the object over itself with StorageClass=STANDARD and moves results_state
restoring -> available with a conditional update, so a redelivered event is a no-op. Raising fails
only this SQS record (retried, then the restore DLQ).
"""
from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gas.sqs_handler import batch_handler, logger


def record_handler(record: SQSRecord) -> None:
    from gas.lifecycle import complete_restore

    from gas.messages import restore_events
    from gas.settings import Settings

    settings = Settings.from_env()
    for event in restore_events(record.raw_event):
        logger.info("restore completed", extra={"bucket": event.bucket, "key": event.key,
                                                "job_id": event.job_id})
        complete_restore(event, settings)


lambda_handler = batch_handler(record_handler)
