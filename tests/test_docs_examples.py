"""Every Python block of the documentation compiles, and every program in it runs.

The pages in ``docs/`` mark their fenced ``python`` blocks with an HTML comment on the line
right before the fence (invisible on the site):

- no marker: a fragment (a few lines out of a bigger program); it must compile, with
  top-level ``await`` allowed.
- a block whose first line is ``# name.py`` is also written to ``name.py`` in the page's own
  empty folder (a later block of the same name replaces it, as the tutorial grows its app);
  an ``html`` block marked ``<!-- name.html -->`` is written there as ``name.html``, for a
  program that serves it.
- ``<!-- serve main:app [options] -->``: after writing the block, ``panther run main:app
  [options]`` serves the page's folder on a free port (replacing the page's previous server);
  ``with-redis`` among the options starts a throwaway redis-server and passes its address
  as ``REDIS_URL``.
- ``<!-- run -->``: the block runs as a program in the page's folder and must exit with 0.
  While a server is up, ``127.0.0.1:8000`` in it is that server's address: such blocks are
  the "try it" clients whose asserts say what the page promises. ``<!-- run against main:app
  [options] -->`` first serves the folder as ``serve`` does, then runs the block.
- ``<!-- pytest -->``: the named block runs under pytest in the page's folder, outside this
  repository's pytest configuration (pytest-asyncio strict, as in a user's project).
- ``<!-- fragment -->``: says so explicitly, for a block that looks like a whole app.

``--8<-- "path"`` lines (pymdownx.snippets) are replaced by the file they include, so the
examples in ``examples/`` are checked as the site shows them. A block that builds an app
(``Panther(``) must be served, run, written to a file or marked a fragment: a program
nobody runs is how a page drifts from the code.
"""

from __future__ import annotations

import ast
import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import ROOT, Server, _env, run_redis, serve

DOCS = ROOT / 'docs'
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob('*.md'))
FENCE = re.compile(r'(?:<!--\s*(?P<marker>[^>]*?)\s*-->\n)?```(?P<lang>python|html)[^\n]*\n(?P<code>.*?)^```',
                   re.S | re.M)
SNIPPET = re.compile(r'^--8<--\s+"([^"]+)"\s*$', re.M)
NAME = re.compile(r'# ([\w./-]+\.py)\n')
DEFAULT_ADDRESS = '127.0.0.1:8000'


@dataclass
class Block:
    page: str
    line: int
    marker: str
    code: str
    lang: str = 'python'

    @property
    def name(self) -> str | None:
        found = NAME.match(self.code)
        return found.group(1) if found else None

    @property
    def where(self) -> str:
        return f'docs/{self.page}:{self.line}'


def _include(match: re.Match[str]) -> str:
    path, *lines = match.group(1).split(':')
    text = (ROOT / path).read_text()
    if lines:
        start, end = (int(n) for n in lines)
        text = '\n'.join(text.splitlines()[start - 1:end]) + '\n'
    return text.rstrip('\n')


def blocks(page: str) -> list[Block]:
    text = (DOCS / page).read_text()
    found = []
    for match in FENCE.finditer(text):
        code = SNIPPET.sub(_include, match.group('code'))
        line = text.count('\n', 0, match.start('code'))
        found.append(Block(page, line, (match.group('marker') or '').strip(), code, match.group('lang')))
    return found


def test_the_docs_have_runnable_examples():
    # The collector must not pass by finding nothing: the quickstart and the tutorial run servers.
    markers = [b.marker.split()[0] for p in PAGES for b in blocks(p) if b.marker]
    assert markers.count('serve') >= 5 and markers.count('run') >= 5 and 'pytest' in markers, markers


class _Page:
    """One page's folder, its server and its redis-server, run in document order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stack = contextlib.ExitStack()
        self.server: Server | None = None
        self.server_stack: contextlib.ExitStack | None = None

    def serve(self, block: Block, options: list[str]) -> None:
        if self.server_stack is not None:
            self.server_stack.close()
        stack = contextlib.ExitStack()
        env = {}
        if 'with-redis' in options:
            options.remove('with-redis')
            env['REDIS_URL'] = stack.enter_context(run_redis()).url
        target, *args = options
        try:
            self.server = stack.enter_context(serve(target, cwd=self.folder, args=args, env=env))
        except Exception as error:
            stack.close()
            raise AssertionError(f'{block.where}: the server did not start: {error}') from None
        self.server_stack = stack

    def run(self, block: Block, command: list[str]) -> None:
        result = subprocess.run(command, cwd=self.folder, env=_env(None), capture_output=True, text=True,
                                timeout=120)
        if result.returncode != 0:
            log = self.server.log() if self.server else ''
            raise AssertionError(f'{block.where} failed:\n{result.stdout}{result.stderr}\nserver log:\n{log}')

    def close(self) -> None:
        if self.server_stack is not None:
            self.server_stack.close()


@contextlib.contextmanager
def _page(folder: Path) -> Iterator[_Page]:
    page = _Page(folder)
    try:
        yield page
    finally:
        page.close()


@pytest.mark.parametrize('page', PAGES)
def test_page_examples(page: str, tmp_path: Path):
    (tmp_path / 'pytest.ini').write_text('[pytest]\n')  # a user's project: none of this repository's settings
    with _page(tmp_path) as running:
        for block in blocks(page):
            if block.lang == 'html':  # only ever a file a program reads (a page it serves)
                if block.marker:
                    (tmp_path / block.marker).write_text(block.code)
                continue
            kind, *options = block.marker.split() or ['']
            try:
                compile(block.code, block.where, 'exec', flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            except SyntaxError as error:
                raise AssertionError(f'{block.where}: {error}') from None
            if block.name:
                (tmp_path / block.name).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / block.name).write_text(block.code)
            elif 'Panther(' in block.code and kind not in ('serve', 'run', 'fragment'):
                raise AssertionError(f'{block.where}: an app nobody runs; name its file, serve, run it '
                                     'or mark it <!-- fragment -->')
            if kind == 'serve':
                running.serve(block, options)
            elif kind == 'run':
                if options[:1] == ['against']:
                    running.serve(block, options[1:])
                code = block.code
                if running.server is not None:
                    code = code.replace(DEFAULT_ADDRESS, f'127.0.0.1:{running.server.port}')
                script = tmp_path / f'_block_{block.line}.py'
                script.write_text(code)
                running.run(block, [sys.executable, script.name])
            elif kind == 'pytest':
                assert block.name, f'{block.where}: a pytest block needs a "# test_x.py" first line'
                running.run(block, [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                                    '-W', 'error::RuntimeWarning', block.name])
            elif kind not in ('', 'fragment'):
                raise AssertionError(f'{block.where}: unknown marker {block.marker!r}')
