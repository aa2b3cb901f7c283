"""thaw: request the restore of one archived result after its owner upgraded to premium.

Trigger: SQS thaw queue <- SNS thaw topic (one message per archived job, published on upgrade).
RawMessageDelivery is false: every SQS body is an SNS envelope whose ``Message`` is a
`gas.messages.ThawRequest` ({"version": 1, "job_id": ..., "user_id": ...}).

Domain call (gas core layer, imported lazily):
    gas.lifecycle.thaw_job(request: gas.messages.ThawRequest, settings: gas.settings.Settings) -> None
It calls S3 restore_object with the Expedited tier, falls back to Standard on
GlacierExpeditedRetrievalNotAvailable (503), treats RestoreAlreadyInProgress (409) as success and
moves results_state archived -> restoring conditionally. The restore function finishes the job
when S3 reports ObjectRestore:Completed. Raising fails only this record.
"""
from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from gas.sqs_handler import batch_handler, logger


def record_handler(record: SQSRecord) -> None:
    from gas.lifecycle import thaw_job

    from gas.messages import ThawRequest, parse_record
    from gas.settings import Settings

    message = parse_record(record.raw_event, ThawRequest)
    logger.append_keys(job_id=message.job_id, user_id=message.user_id)
    thaw_job(message, Settings.from_env())


lambda_handler = batch_handler(record_handler)
