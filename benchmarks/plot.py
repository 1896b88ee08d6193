"""Draw ``results/<scenario>.png`` from ``results/<scenario>.json``.

Run by ``run.py`` under ``benchmarks/.venv-load`` (which has matplotlib); can be
re-run by hand: ``benchmarks/.venv-load/bin/python benchmarks/plot.py
benchmarks/results/echo.json benchmarks/results/echo.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt
import matplotlib.ticker

PANELS = {
    'echo': [
        ('msgs_per_s', 'messages / s (higher is better)'),
        ('latency', 'round-trip latency ms'),
    ],
    'echo-deflate': [
        ('msgs_per_s', 'messages / s, clients with permessage-deflate (higher is better)'),
        ('latency', 'round-trip latency ms'),
    ],
    'relay': [
        ('msgs_per_s', 'messages / s (higher is better)'),
        ('latency', 'sender-to-receiver latency ms'),
    ],
    'relay-vs-echo': [
        ('relay_vs_echo', 'relay msgs/s per echo msg/s, one server, phases taking turns'),
    ],
    'relay-redis': [
        ('msgs_per_s', 'messages / s, 2 workers + Redis (higher is better)'),
        ('latency', 'sender-to-receiver latency ms'),
    ],
    'relay-shared': [
        ('msgs_per_s', 'messages / s, 2 workers, shared-local (higher is better)'),
        ('latency', 'sender-to-receiver latency ms'),
    ],
    'handshakes': [
        ('handshakes_per_s', 'handshakes / s (higher is better)'),
        ('latency', 'handshake latency ms'),
    ],
    'idle-memory': [('kib_per_connection', 'server RSS KiB per idle connection (lower is better)')],
    'broadcast': [('latency', 'ms until every receiver got it, log scale (lower is better)')],
    'broadcast-redis': [('latency', '2 workers + Redis (ours: groups): ms until every receiver got it')],
    'broadcast-shared': [('latency', 'groups on 2 workers, shared-local: ms until all got it')],
    'relay-redis-cluster': [
        ('msgs_per_s', 'messages / s, 2 workers + a 3+3 Redis Cluster (higher is better)'),
        ('latency', 'sender-to-receiver latency ms'),
    ],
    'broadcast-redis-cluster': [('latency', 'groups on 2 workers + Redis Cluster: ms until every receiver got it')],
    'echo-metrics': [
        ('msgs_per_s', 'messages / s, METRICS_PATH off (ours) and on (higher is better)'),
        ('latency', 'round-trip latency ms'),
    ],
    'broadcast-metrics': [('latency', 'groups, METRICS_PATH off and on: ms until every receiver got it')],
    'echo-session': [
        ('msgs_per_s', 'messages / s, panther.v1 session clients (higher is better)'),
        ('latency', 'round-trip latency ms'),
    ],
    'broadcast-session': [('latency', 'groups, panther.v1 session receivers: ms until every receiver got it')],
    'idle-memory-session': [('kib_per_connection', 'server RSS KiB per idle panther.v1 session (lower is better)')],
}


def _ok_runs(case: dict) -> list[tuple[str, dict]]:
    return [
        (name, run['summary']) for name, run in case['runs'].items() if run.get('status') == 'ok'
    ]


def _missing(case: dict) -> list[str]:
    return [
        f'{name}: {run["status"]}' for name, run in case['runs'].items() if run['status'] != 'ok'
    ]


def _bars(ax, names, values, title):
    bars = ax.bar(names, values, color='#4c72b0')
    ax.bar_label(bars, labels=[f'{v:,.0f}' if v >= 100 else f'{v:.2f}' for v in values])
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis='x', rotation=20)


def _latency(ax, names, summaries, title):
    width = 0.38
    xs = range(len(names))
    p50 = [s.get('p50_ms') or 0 for s in summaries]
    p99 = [s.get('p99_ms') or 0 for s in summaries]
    a = ax.bar([x - width / 2 for x in xs], p50, width, label='p50', color='#55a868')
    b = ax.bar([x + width / 2 for x in xs], p99, width, label='p99', color='#c44e52')
    ax.bar_label(a, labels=[f'{v:.1f}' for v in p50], fontsize=8)
    ax.bar_label(b, labels=[f'{v:.1f}' for v in p99], fontsize=8)
    ax.set_xticks(list(xs), names, rotation=20)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


def draw(report: dict, out: Path) -> None:
    scenario = report['scenario']
    panels = PANELS[scenario]
    cases = report['cases']
    rows = len(cases)
    fig, axes = plt.subplots(
        rows, len(panels), figsize=(max(10.0, 6.5 * len(panels)), 4.2 * rows), squeeze=False
    )
    for row, case in enumerate(cases):
        runs = _ok_runs(case)
        names = [n for n, _ in runs]
        summaries = [s for _, s in runs]
        label = ', '.join(f'{k}={v}' for k, v in case['case'].items())
        for col, (key, title) in enumerate(panels):
            ax = axes[row][col]
            full_title = f'{title}\n{label}' if label else title
            if not runs:
                ax.text(0.5, 0.5, 'no successful run', ha='center', va='center')
                ax.set_axis_off()
            elif key == 'latency':
                _latency(ax, names, summaries, full_title)
                if scenario.startswith('broadcast'):
                    ax.set_yscale('log')
            else:
                _bars(ax, names, [s.get(key) or 0 for s in summaries], full_title)
        missing = _missing(case)
        if missing:
            axes[row][0].annotate(
                'not shown: ' + '; '.join(missing),
                xy=(0, -0.32),
                xycoords='axes fraction',
                fontsize=7,
                color='gray',
            )
    machine = report['machine']
    fig.suptitle(
        f'panther benchmark: {report.get("name", scenario)} | {machine["cpu_model"]}, '
        f'{machine["cores"]} cores, '
        f'server CPU {machine["server_cpu"]}, load CPU {machine["load_cpu"]} | {machine["date"]}',
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def draw_targets(report: dict, out: Path) -> None:
    """``targets.json``: each issue target as a bar, 1.0 = just met, longer = better."""
    rows = [r for r in report['targets'] if r['value']]
    score = [
        r['value'] / r['required'] if r['higher_is_better'] else r['required'] / r['value']
        for r in rows
    ]
    fig, ax = plt.subplots(figsize=(11, 0.7 * len(rows) + 1.6))
    colors = ['#55a868' if r['met'] else '#c44e52' for r in rows]
    names = [r['target'] for r in rows]
    bars = ax.barh(names, score, color=colors)
    labels = []
    for r in rows:
        label = f'{r["value"]:,.2f}{r["unit"]}'
        if r.get('bare_ms') is not None:
            floor = r.get('floor_ms')
            label += f'  (bare {r["bare_ms"]:,.1f}' + (f', direct frames {floor:,.1f}' if floor else '') + ' ms)'
        labels.append(label)
    ax.bar_label(bars, labels=labels, fontsize=8, padding=3)
    ax.axvline(1.0, color='black', linewidth=1)
    ax.set_xscale('log')
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks([0.1, 0.2, 0.5, 1, 2])
    ax.invert_yaxis()
    ax.set_xlabel('measured / required (>= 1: met; log scale)')
    dates = sorted({d[:10] for d in report.get('dates', {}).values() if d})
    when = f'{dates[0]} .. {dates[-1]}' if len(dates) > 1 else (dates[0] if dates else '')
    ax.set_title(f'panther vs the benchmark issue targets (green: met, red: missed) | {when}', fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def _scaling_series(report: dict, backend: str, pick) -> tuple[list[int], list[float]]:
    points = [(e['workers'], pick(e)) for e in report['combinations'] if e.get('backend') == backend]
    points = [(w, v) for w, v in points if v is not None]
    return [w for w, _ in points], [v for _, v in points]


def _scaling_value(entry: dict, path: tuple[str, ...], scale: float = 1.0) -> float | None:
    for key in path:
        entry = (entry or {}).get(key)
    return entry * scale if isinstance(entry, int | float) else None


def draw_scaling(report: dict, out: Path) -> None:
    """``scaling``: Redis commands, Redis CPU and workers' CPU per message against the worker count."""
    kinds = [('targeted, 1 in flight/worker', ('relay_lone',), 'workers_cpu_s_per_msg')]
    kinds.append(('targeted, batched', ('relay',), 'workers_cpu_s_per_msg'))
    for size in report['options']['receivers']:
        kinds.append((f'group send to {size:,}', ('broadcast', str(size)), 'workers_cpu_s_per_delivery'))
    panels = [
        ('Redis commands per message', lambda where: (*where, 'redis', 'commands_total'), 1.0),
        ('Redis CPU µs per message (masters)', lambda where: (*where, 'redis', 'redis_cpu_s'), 1e6),
        ('workers\' CPU µs per message (group: per delivery)', None, 1e6),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(17, 4.8))
    for ax, (title, path, scale) in zip(axes, panels, strict=True):
        for index, (label, where, worker_key) in enumerate(kinds):
            for backend, style in (('redis', '-'), ('cluster', '--')):
                keys = path(where) if path else (*where, worker_key)
                pick = lambda e, keys=keys, scale=scale: _scaling_value(e, keys, scale)  # noqa: E731
                xs, ys = _scaling_series(report, backend, pick)
                if xs:
                    ax.plot(xs, ys, style, marker='o', color=f'C{index}',
                            label=f'{label} ({"one Redis" if backend == "redis" else "cluster"})')
        ax.set_title(title, fontsize=10)
        ax.set_xlabel('workers')
        ax.set_xticks(sorted({e['workers'] for e in report['combinations']}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    date = report.get('machine', {}).get('date', '')[:10]
    fig.suptitle(f'scaling: cost per message as workers grow (all server processes on one core) | {date}', fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    source = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else source.with_suffix('.png')
    report = json.loads(source.read_text())
    if 'targets' in report:
        draw_targets(report, out)
    elif report.get('scenario') == 'scaling':
        draw_scaling(report, out)
    else:
        draw(report, out)


if __name__ == '__main__':
    main()
