"""The benchmark runner's verdicts on the issue's targets, from hand-made result files.

The scenarios themselves run in ``benchmarks/`` (real servers, picows); what is
checked here is the arithmetic that turns saved results into met / missed, so a
wrong ratio or a swapped baseline cannot slip into the README unnoticed.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

RUN_PY = Path(__file__).resolve().parent.parent / 'benchmarks' / 'run.py'


@pytest.fixture(scope='module')
def run():
    spec = importlib.util.spec_from_file_location('benchmark_run', RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _report(cases):
    return {'machine': {'date': '2026-11-25T00:00:00+00:00'}, 'cases': cases}


def _case(case, **runs):
    return {'case': case, 'runs': {t: {'status': 'ok', **r} for t, r in runs.items()}}


def _save(directory: Path, name: str, report: dict) -> None:
    (directory / f'{name}.json').write_text(json.dumps(report))


def _rounds(medians, lasts):
    pairs = zip(medians, lasts, strict=True)
    return {'rounds': [{'first_ms': 0.1, 'median_ms': m, 'last_ms': last} for m, last in pairs]}


@pytest.fixture
def results(tmp_path):
    _save(tmp_path, 'echo', _report([_case({}, bare={'summary': {'msgs_per_s': 10_000}},
                                           ours={'summary': {'msgs_per_s': 9_000}})]))
    # separate runs: 0.5x; taking turns on one server: 0.85x -> the latter decides
    _save(tmp_path, 'relay', _report([_case({}, ours={'summary': {'msgs_per_s': 4_500}})]))
    _save(tmp_path, 'relay-vs-echo', _report([_case({}, ours={'summary': {'relay_vs_echo': 0.85}},
                                                    bare={'summary': {'relay_vs_echo': 0.96}})]))
    _save(tmp_path, 'relay-redis', _report([_case({}, ours={'summary': {'msgs_per_s': 3_900}},
                                                  reference={'summary': {'msgs_per_s': 1_000}})]))
    _save(tmp_path, 'broadcast', _report([
        _case({'receivers': 1000},
              **{'ours-groups': {'summary': {'p50_ms': 9.0}, 'raw': _rounds([4.0, 5.0, 6.0], [8, 9, 10])},
                 'bare': {'summary': {'p50_ms': 30.0}},
                 'bare-direct': {'summary': {'p50_ms': 8.0}, 'raw': _rounds([3.0, 4.0, 5.0], [7, 8, 9])}}),
        _case({'receivers': 10000},
              **{'ours-groups': {'summary': {'p50_ms': 240.0}, 'raw': _rounds([120.0], [240])},
                 'bare': {'summary': {'p50_ms': 380.0}},
                 'bare-direct': {'summary': {'p50_ms': 200.0}, 'raw': _rounds([100.0], [200])}}),
    ]))
    _save(tmp_path, 'idle-memory', _report([_case({}, bare={'summary': {'kib_per_connection': 20.0}},
                                                  ours={'summary': {'kib_per_connection': 23.0}})]))
    return tmp_path


def _rows(run, directory):
    return {row['target'].split(' >=')[0].split(' <=')[0]: row for row in run.evaluate_targets(directory)['targets']}


def test_verdicts(run, results):
    rows = _rows(run, results)
    echo = rows['echo']
    assert echo['value'] == pytest.approx(0.9) and echo['met'] is False  # needs 0.95x
    relay = rows['relay, 1 worker']
    assert relay['value'] == 0.85 and relay['met'] is True
    assert relay['separate_runs'] == pytest.approx(0.5) and relay['bare_ratio'] == 0.96
    redis = rows['relay via Redis (2 workers)']
    assert redis['value'] == pytest.approx(3.9) and redis['met'] is False
    small, large = rows['broadcast via groups to 1,000'], rows['broadcast via groups to 10,000']
    # judged against the direct-frame floor of the same run: 9 / 8 ms is over 1.1x, 240 / 200 too
    assert small['value'] == pytest.approx(1.125) and small['met'] is False
    assert large['value'] == pytest.approx(1.2) and large['met'] is False
    assert (small['groups_ms'], small['floor_ms']) == (9.0, 8.0)
    assert small['median_receiver_ms'] == 5.0 and small['floor_median_receiver_ms'] == 4.0
    assert large['vs_bare'] == pytest.approx(240 / 380)
    memory = rows['idle memory per connection']
    assert memory['value'] == pytest.approx(1.15) and memory['met'] is False  # lower is better, limit 1.1x
    assert rows['handshakes with a JWT']['met'] is None  # no handshakes-jwt results: not measured


def test_jwt_handshakes_are_judged_against_bare(run, results):
    _save(results, 'handshakes-jwt', _report([_case({}, bare={'summary': {'handshakes_per_s': 1_000}},
                                                    ours={'summary': {'handshakes_per_s': 880}})]))
    row = _rows(run, results)['handshakes with a JWT']
    assert row['value'] == pytest.approx(0.88) and row['met'] is False
    _save(results, 'handshakes-jwt', _report([_case({}, bare={'summary': {'handshakes_per_s': 1_000}},
                                                    ours={'summary': {'handshakes_per_s': 920}})]))
    assert _rows(run, results)['handshakes with a JWT']['met'] is True


def test_missing_results_are_not_measured_rather_than_met(run, results):
    (results / 'relay-vs-echo.json').unlink()
    (results / 'idle-memory.json').unlink()
    rows = _rows(run, results)
    assert rows['relay, 1 worker']['met'] is None
    assert rows['idle memory per connection']['met'] is None
    assert rows['echo']['met'] is False


def test_markdown_table_rows_come_from_the_files(run, results):
    table = run.markdown_table(results)
    assert '| relay / echo, 1 worker, taking turns on one server | 0.96x | - | 0.85x |' in table
    lines = table.splitlines()
    no_peers = ' - | - | - | - | - |'  # four peer columns and "ours vs best peer"
    assert '| echo msgs/s (p50 ms) | 10,000 (-) | - | 9,000 (-) | - | - | 0.90 | - |' + no_peers in lines
    broadcast = '| broadcast 10k, groups, p50 / p99 ms | 380 / - | 200 / - | 240 / - | - | - | 0.63 | - |'
    assert broadcast + no_peers in lines
    relay = '| relay, 2 workers + Redis, msgs/s (p50 ms) | - | - | 3,900 (-) | 1,000 (-) | - | - | 3.90 |'
    assert relay + no_peers in lines
    assert not any(line.startswith('| handshakes') for line in lines)  # no file, no row


@pytest.fixture
def peer_results(results):
    """``results`` with the peers (issue #19) beside ours in the scenarios they run in."""
    _save(results, 'echo', _report([_case({}, bare={'summary': {'msgs_per_s': 10_000}},
                                          ours={'summary': {'msgs_per_s': 9_000}},
                                          fastapi={'summary': {'msgs_per_s': 6_000}},
                                          channels={'summary': {'msgs_per_s': 2_000}},
                                          socketio={'summary': {'msgs_per_s': 3_000}},
                                          litestar={'summary': {'msgs_per_s': 7_500}})]))
    _save(results, 'handshakes', _report([_case({}, ours={'summary': {'handshakes_per_s': 900}},
                                                fastapi={'summary': {'handshakes_per_s': 950}},
                                                channels={'summary': {'handshakes_per_s': 700}},
                                                socketio={'summary': {'handshakes_per_s': 450}},
                                                litestar={'summary': {'handshakes_per_s': 500}})]))
    _save(results, 'relay-redis', _report([_case({}, ours={'summary': {'msgs_per_s': 6_000}},
                                                 reference={'summary': {'msgs_per_s': 1_000}},
                                                 fastapi={'summary': {'msgs_per_s': 1_500}},
                                                 channels={'summary': {'msgs_per_s': 150}},
                                                 socketio={'summary': {'msgs_per_s': 600}},
                                                 litestar={'summary': {'msgs_per_s': 1_600}})]))
    small = _case({'receivers': 1000}, **{'ours-groups': {'summary': {'p50_ms': 20.0}},
                                         'fastapi': {'summary': {'p50_ms': 30.0}},
                                         'channels': {'summary': {'p50_ms': 500.0}},
                                         'socketio': {'summary': {'p50_ms': 150.0}},
                                         'litestar': {'summary': {'p50_ms': 80.0}}})
    large = _case({'receivers': 10000}, **{'ours-groups': {'summary': {'p50_ms': 200.0}},
                                          'channels': {'summary': {'p50_ms': 9_000.0}},
                                          'socketio': {'summary': {'p50_ms': 3_000.0}},
                                          'litestar': {'summary': {'p50_ms': 1_800.0}}})
    large['runs']['fastapi'] = {'status': 'failed', 'reason': 'round 2: 5014 of 10000 receivers'}
    _save(results, 'broadcast-redis', _report([small, large]))
    _save(results, 'idle-memory', _report([_case({}, bare={'summary': {'kib_per_connection': 20.0}},
                                                 ours={'summary': {'kib_per_connection': 23.0}},
                                                 fastapi={'summary': {'kib_per_connection': 30.0}},
                                                 channels={'summary': {'kib_per_connection': 28.0}},
                                                 socketio={'summary': {'kib_per_connection': 46.0}},
                                                 litestar={'summary': {'kib_per_connection': 24.0}})]))
    return results


def test_peer_verdicts_are_against_the_best_peer(run, peer_results):
    rows = _rows(run, peer_results)
    echo = rows['echo: ahead of every peer (msgs/s)']
    assert echo['value'] == pytest.approx(9_000 / 7_500) and echo['met'] is True
    assert echo['per_peer']['channels'] == pytest.approx(4.5)
    handshakes = rows['handshakes: ahead of every peer (handshakes/s)']
    assert handshakes['value'] == pytest.approx(900 / 950) and handshakes['met'] is False  # behind FastAPI
    relay = rows['relay via Redis, 2 workers:']
    assert relay['value'] == pytest.approx(6_000 / 1_600) and relay['met'] is True  # needs 2x the best
    small = rows['broadcast to 1,000 via Redis, 2 workers:']
    assert small['value'] == pytest.approx(30 / 20) and small['met'] is False  # times: peer / ours
    memory = rows['idle memory per connection, against the peers:']
    assert memory['value'] == pytest.approx(24 / 23) and memory['met'] is True  # lower is better


def test_a_peer_without_a_figure_leaves_the_peer_target_undecided(run, peer_results):
    large = _rows(run, peer_results)['broadcast to 10,000 via Redis, 2 workers:']
    assert large['value'] == pytest.approx(1_800 / 200)  # ahead of every peer that has a figure...
    assert large['met'] is None and large['incomplete'] == ['fastapi']  # ...but FastAPI failed
    assert large['peer_status']['fastapi'] == 'failed' and large['per_peer']['fastapi'] is None


def test_markdown_table_has_the_peers_and_the_best_of_them(run, peer_results):
    lines = run.markdown_table(peer_results).splitlines()
    assert '| FastAPI + broadcaster | Django Channels | python-socketio | Litestar | ours vs best peer |' in lines[0]
    assert ('| echo msgs/s (p50 ms) | 10,000 (-) | - | 9,000 (-) | - | - | 0.90 | - '
            '| 6,000 (-) | 2,000 (-) | 3,000 (-) | 7,500 (-) | 1.20x (litestar) |') in lines
    assert ('| broadcast 10k, groups, 2 workers + Redis, p50 / p99 ms | - | - | 200 / - | - | - | - | - '
            '| failed | 9,000 / - | 3,000 / - | 1,800 / - | 9.00x (litestar) |') in lines
    assert ('| idle memory KiB/connection (10k) | 20.0 | - | 23.0 | - | - | 1.15 | - '
            '| 30.0 | 28.0 | 46.0 | 24.0 | 1.04x (litestar) |') in lines
