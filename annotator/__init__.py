"""The annotator runtime: the annotation engine (engine/) and, later, the SQS worker."""
