"""The documentation site builds with ``mkdocs build --strict`` and renders every page of its nav."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import ROOT, _env


def nav_pages(nav: Any) -> Iterator[str]:
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_pages(value)


def rendered(site: Path, page: str) -> Path:
    stem = page.removesuffix('.md')
    if stem == 'index':
        return site / 'index.html'
    return site / stem.removesuffix('/index') / 'index.html'


@pytest.fixture(scope='module')
def site(tmp_path_factory) -> tuple[Path, str]:
    target = tmp_path_factory.mktemp('site')
    result = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir', str(target)],
                            cwd=ROOT, env=_env({'NO_MKDOCS_2_WARNING': '1'}), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return target, result.stderr


def test_every_nav_page_is_rendered(site):
    target, _ = site
    config = yaml.safe_load((ROOT / 'mkdocs.yml').read_text())
    pages = list(nav_pages(config['nav']))
    assert len(pages) >= 17, pages
    for page in pages:
        assert (ROOT / 'docs' / page).exists(), page
        html = rendered(target, page)
        assert html.exists(), f'{page} was not rendered'
        assert '<h1' in html.read_text(), f'{page} has no title'


def test_every_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / 'mkdocs.yml').read_text())
    pages = set(nav_pages(config['nav']))
    sources = {p.relative_to(ROOT / 'docs').as_posix() for p in (ROOT / 'docs').rglob('*.md')}
    assert sources == pages


def test_the_api_reference_is_generated_from_docstrings(site):
    target, _ = site
    html = rendered(target, 'api.md').read_text()
    # Names and docstring text that only mkdocstrings can have put there.
    for expected in ('send_message_to_websocket', 'GenericWebsocket', 'JWTAuthentication', 'WebsocketClient',
                     'wherever it lives'):
        assert expected in html, expected


def test_examples_are_included_from_their_files(site):
    target, _ = site
    html = rendered(target, 'tutorial.md').read_text()
    # A line of examples/chat/main.py's docstring, which no page copies.
    assert 'Presence needs no shared store' in html
    assert '--8&lt;--' not in html and '--8<--' not in html  # every include was resolved


def test_the_readme_links_into_every_guide():
    readme = (ROOT / 'README.md').read_text()
    linked = set(re.findall(r'\]\((docs/[\w/.-]+\.md)\)', readme))
    assert linked, 'the README links into the docs'
    for link in linked:
        assert (ROOT / link).exists(), link
    config = yaml.safe_load((ROOT / 'mkdocs.yml').read_text())
    assert {f'docs/{page}' for page in nav_pages(config['nav'])} - {'docs/index.md'} <= linked
