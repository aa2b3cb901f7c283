"""The embedded local stack: moto on 127.0.0.1, resources provisioned from template.yaml
(`provision`), SQS -> function pollers (`pollers`), start/stop and status (`stack`).

Nothing here is imported by the cloud runtimes; docs/local-stack.md describes it.
"""
