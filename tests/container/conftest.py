"""Registers the `container` marker for this directory (pytest runs with --strict-markers)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "container: builds the images and runs the compose stack with podman"
    )
