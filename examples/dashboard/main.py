"""A live dashboard: charts in the browser, fed over a WebSocket group by a background task.

Run it from this folder with ``panther run main:app`` and open http://127.0.0.1:8000.

Every page joins the group ``dashboard``. One background task per worker (started
with the first viewer) reads the sensors (simulated here: a temperature, a humidity
and a power draw) every ``DASHBOARD_INTERVAL`` seconds and sends one reading to the
whole group with ``send_message_to_group``; a new viewer first gets the last
minute of readings, so its charts are full at once. The page draws them with a
plain ``<canvas>`` and listens through the browser client every panther app serves
(``/_panther/panther.js``), which resumes after a network drop: no script from
anywhere else.

The app also serves its own metrics at ``/metrics`` and readiness at ``/health``
(docs/operating.md). With several workers each worker runs its own feed; a real
deployment reads its sensors in one place (one worker, or a separate process
that calls ``send_message_to_group`` with ``REDIS`` configured).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import time
from collections import deque
from pathlib import Path

from panther import Panther
from panther.app import API
from panther.response import HTMLResponse
from panther.websocket import GenericWebsocket, group_members, send_message_to_group

METRICS_PATH = '/metrics'
HEALTH_PATH = '/health'

GROUP = 'dashboard'
INTERVAL = float(os.environ.get('DASHBOARD_INTERVAL', '1.0'))
HISTORY = max(10, int(60 / INTERVAL))  # about a minute of readings
PAGE = (Path(__file__).parent / 'page.html').read_text()

logger = logging.getLogger('dashboard')


class SensorFeed:
    """Simulated sensors: slow waves plus noise, read every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.history: deque[dict] = deque(maxlen=HISTORY)
        self.task: asyncio.Task[None] | None = None
        self.random = random.Random()

    def read(self, now: float) -> dict:
        noise = self.random.gauss
        return {
            't': round(now, 3),
            'temperature': round(21 + 3 * math.sin(now / 10) + noise(0, 0.3), 2),
            'humidity': round(45 + 10 * math.sin(now / 17 + 1) + noise(0, 1.0), 1),
            'power': round(300 + 150 * abs(math.sin(now / 5)) + noise(0, 15), 0),
        }

    def start(self) -> None:
        if self.task is None or self.task.done():
            if not self.history:  # a simulation may make up its past: the charts start full
                now = time.time()
                self.history.extend(self.read(now - i * self.interval) for i in range(HISTORY - 1, 0, -1))
            self.task = asyncio.get_running_loop().create_task(self.run(), name='dashboard feed')

    async def run(self) -> None:
        while True:
            reading = self.read(time.time())
            self.history.append(reading)
            try:
                reading['viewers'] = len(await group_members(GROUP))
                await send_message_to_group(GROUP, {'reading': reading})
            except Exception:  # one failed tick (e.g. Redis briefly away) must not end the feed
                logger.exception('dashboard feed: a reading could not be sent')
            await asyncio.sleep(self.interval)


feed = SensorFeed(INTERVAL)


class LiveWebsocket(GenericWebsocket):
    async def connect(self, **kwargs):
        await self.accept()
        feed.start()
        await self.send({'history': list(feed.history), 'interval': INTERVAL})
        await self.join_group(GROUP)


@API()
async def page():
    return HTMLResponse(PAGE)


URLS = {'': page, 'ws/live/': LiveWebsocket}

app = Panther(__name__, configs=__name__)
