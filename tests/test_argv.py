"""One reader of server options: the value panther sees is the value uvicorn and gunicorn use."""

import importlib

import pytest
from gunicorn.config import Config as GunicornConfig

from panther import argv
from tests.cluster import APP_DIR, http, spread
from tests.servers import serve

UVICORN_CASES = [
    ['--workers', '3'],
    ['--workers=3'],
    ['--workers', '1', '--workers', '4'],
    ['--workers=4', '--workers', '1'],
    ['--workers', '2', '--port', '9', '--workers=5', '--reload'],
    ['--port', '9'],
]


@pytest.mark.parametrize('args', UVICORN_CASES)
def test_workers_as_uvicorns_click_parser_reads_them(args):
    uvicorn_cli = importlib.import_module('uvicorn.main').main
    context = uvicorn_cli.make_context('uvicorn', ['main:app', *args], resilient_parsing=True)
    assert argv.int_option(args, '--workers') == context.params['workers']


GUNICORN_CASES = [
    ['-w', '3'],
    ['-w3'],
    ['-w=3'],
    ['--workers', '3'],
    ['--workers=3'],
    ['-w', '1', '--workers', '4'],
    ['--workers', '4', '-w2'],
    ['-w', '2', '-k', 'uvicorn.workers.UvicornWorker', '--worker-connections', '50', '-w', '6'],
]


@pytest.mark.parametrize('args', GUNICORN_CASES)
def test_workers_as_gunicorns_argparse_reads_them(args):
    parsed = GunicornConfig().parser().parse_args([*args, 'main:app'])
    assert argv.int_option(args, '--workers', '-w') == parsed.workers


def test_values_are_not_options_and_double_dash_ends_them():
    # click takes the token after --workers as its value whatever it looks like (then refuses it as a number).
    assert argv.option(['--workers', '--workers=3'], '--workers') == '--workers=3'
    assert argv.int_option(['--workers', '--workers=3'], '--workers') is None
    assert argv.option(['--log-level', 'info', '--', '--log-level', 'debug'], '--log-level') == 'info'
    assert argv.option(['--log-level'], '--log-level') is None  # no value: uvicorn refuses it
    assert argv.option(['--log-levels', 'x'], '--log-level') is None
    assert argv.int_option(['--workers', 'many'], '--workers') is None
    assert argv.to_int('') is None and argv.to_int('7') == 7 and argv.to_int('x') is None


def test_has_option():
    assert argv.has_option(['--ws-max-size', '10'], '--ws-max-size')
    assert argv.has_option(['--ws-max-size=10'], '--ws-max-size')
    assert not argv.has_option(['--ws-max-sizes=10'], '--ws-max-size')
    assert argv.has_option(['-w4'], '-w') and not argv.has_option(['--workers=4'], '-w')
    assert not argv.has_option(['--', '--ws-max-size'], '--ws-max-size')


async def test_repeated_workers_option_gives_uvicorns_count_and_one_shared_bus():
    # Before: the bus read the first --workers (1, no shared directory) while uvicorn started 2
    # workers, each alone; now both read the last one.
    with serve('main:app', APP_DIR, server='panther', args=['--workers', '1', '--workers', '2']) as running:
        by_worker = await spread(running, per_worker=1, workers=2)
        try:
            (a, b) = list(by_worker)
            sender, target = by_worker[a][0], by_worker[b][0]
            assert await sender.ask(op='send', to=target.id, data='across') == {'sent': 1}
            assert await target.recv() == 'across'
            assert await target.ask(op='send', to=sender.id, data='back') == {'sent': 1}
            assert await sender.recv() == 'back'
            async with http(running) as api:
                assert (await api.get('/api/whoami/')).json()['bus'] == 'shared-local'
        finally:
            for clients in by_worker.values():
                await clients[0].close()
        assert 'NOT shared' not in running.log()
