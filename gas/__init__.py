"""GAS shared core: imported by the worker, the Lambda functions, the UI and the CLI."""
