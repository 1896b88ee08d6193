"""Running tests/limits_app under a real server with a given configuration."""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.servers import ROOT, Server, serve

APP_DIR = ROOT / 'tests' / 'limits_app'


class LimitsServer:
    def __init__(self, server: Server, hook_log: Path) -> None:
        self.server = server
        self.hook_log = hook_log

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)

    def hooks(self) -> list[str]:
        """Lines the app's hooks wrote: ``connect <path>`` and ``<path> <code>``."""
        return self.hook_log.read_text().splitlines() if self.hook_log.exists() else []

    def wait_hooks(self, predicate: Any, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.hooks()
            if predicate(lines):
                return lines
            time.sleep(0.05)
        raise AssertionError(f'hook log never matched; it holds {self.hooks()!r}\nserver log:\n{self.log()}')


@contextlib.contextmanager
def limits_server(config: dict[str, Any] | None = None, *, server: str = 'panther', args: Sequence[str] = (),
                  env: dict[str, str] | None = None) -> Iterator[LimitsServer]:
    with tempfile.TemporaryDirectory(prefix='panther-limits-') as folder:
        hook_log = Path(folder) / 'hooks.log'
        environment = {'LIMITS_CONFIG': json.dumps(config or {}), 'HOOK_LOG': str(hook_log), **(env or {})}
        with serve('main:app', APP_DIR, server=server, args=args, env=environment) as running:
            yield LimitsServer(running, hook_log)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    status = Path(f'/proc/{pid}/status').read_text()
    return int(re.search(r'VmHWM:\s+(\d+) kB', status).group(1)) / 1024
