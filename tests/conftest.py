"""Shared fixtures."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture):
    """``caplog`` that also sees the ``panther`` logger (which does not propagate to the root)."""
    logger = logging.getLogger('panther')
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
