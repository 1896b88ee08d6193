"""Serve another app module with the ``panther`` logger at WARNING.

The reference panther 5.5.0 logs every WebSocket send at DEBUG to stderr and to
``logs/main.log`` whatever uvicorn's ``--log-level`` says.  The ``*-quiet``
targets serve ``quiet:app`` with ``BENCH_APP=<module>`` to measure the
framework without that logging; the app module itself is unchanged.
"""

import importlib
import logging
import os

app = importlib.import_module(os.environ['BENCH_APP']).app
logging.getLogger('panther').setLevel(logging.WARNING)
