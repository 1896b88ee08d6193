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
    assert (small['value'], small['met'], small['floor_meets']) == (9.0, True, True)
    assert (large['value'], large['met'], large['floor_meets']) == (240.0, False, False)
    assert small['median_receiver_ms'] == 5.0 and small['floor_median_receiver_ms'] == 4.0
    assert large['vs_bare'] == pytest.approx(240 / 380)
    memory = rows['idle memory per connection']
    assert memory['value'] == pytest.approx(1.15) and memory['met'] is False  # lower is better, limit 1.1x


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
    assert '| echo msgs/s (p50 ms) | 10,000 (-) | - | 9,000 (-) | - | - | 0.90 | - |' in lines
    assert '| broadcast 10k, groups, p50 / p99 ms | 380 / - | 200 / - | 240 / - | - | - | 0.63 | - |' in lines
    assert '| relay, 2 workers + Redis, msgs/s (p50 ms) | - | - | 3,900 (-) | 1,000 (-) | - | - | 3.90 |' in lines
    assert not any(line.startswith('| handshakes') for line in lines)  # no file, no row
