"""Choosing the bus backend from configuration and environment, never from user code."""

from __future__ import annotations

from panther.bus.base import Bus, BusError
from panther.bus.local import LocalBus

__all__ = ['Bus', 'BusError', 'LocalBus', 'choose_bus']


def choose_bus(settings: object) -> Bus:
    """The in-process bus for now; shared-local and Redis backends plug in here."""
    return LocalBus()
