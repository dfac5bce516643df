from __future__ import annotations

from typing import Any

import pytest

from tests.chart.chart import CHART, Helm, find_helm


@pytest.fixture(scope="session")
def helm() -> Helm:
    return Helm(find_helm())


@pytest.fixture(scope="session")
def default_objects(helm: Helm) -> list[dict[str, Any]]:
    """The chart with its defaults and the one required value."""
    return helm.template(CHART / "ci" / "01-default-values.yaml")
