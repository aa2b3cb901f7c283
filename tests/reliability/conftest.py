"""Every test under tests/reliability carries the `reliability` marker; the long fault runs also carry
`reliability_slow` (excluded from `make test`, run by `make reliability`)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import tiny  # noqa: F401  (the tiny GFF3 bundle, session-scoped)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)
