"""Autobahn|Testsuite compliance run: bare ASGI echo vs panther's echo.

One command does everything:

    python compliance/run.py                # targets: bare panther
    python compliance/run.py bare bare:websockets-sansio
    python compliance/run.py bare:default panther-run --max-message-size 33554432   # the path users run

1. Sets up (once, idempotently) a Python 2.7 virtualenv in compliance/.venv27
   holding the pinned Autobahn|Testsuite from compliance/requirements-py27.txt.
2. For each target, starts its server on a free loopback port, checks that a
   WebSocket handshake to the test path succeeds, runs `wstest -m fuzzingclient`
   for the selected cases against it, and stops the server.
3. Prints a summary per target (and writes it to compliance/results.md): the
   counts of each Autobahn behavior, and every case where a target does worse
   than the first target (the baseline).

A target is NAME or NAME:WS, where NAME is `bare` (compliance/echo_app.py on
uvicorn), `panther` (examples/echo/main.py under `panther run`, path /ws) or
`panther-run` (compliance/panther_echo.py under `panther run`, path /ws), and WS
is uvicorn's --ws implementation. `bare` and `panther` default to `websockets`
and run with --loop uvloop --http httptools; `default` (the default of
`panther-run`) passes no --ws, --loop or --http at all, so the server runs as a
plain `panther run main:app` does (uvicorn picks websockets-sansio, uvloop and
httptools when they are installed). --max-message-size raises panther's
WS_MAX_MESSAGE_SIZE (`panther-run`) and uvicorn's --ws-max-size (`bare`) alike.

Exit status: 0 when no target is worse than the baseline on any case, 1 when
one is, 2 when the run itself could not be done (setup, a server that does not
start, a wstest that times out, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV27 = HERE / ".venv27"
REQUIREMENTS27 = HERE / "requirements-py27.txt"
STAMP = VENV27 / ".compliance-stamp"
REPORTS = HERE / "reports"
RESULTS_MD = HERE / "results.md"
PANTHER_EXAMPLE = REPO / "examples" / "echo" / "main.py"
PANTHER_ECHO = HERE / "panther_echo.py"

HOST = "127.0.0.1"
WS_PATH = "/ws"
DEFAULT_CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]
DEFAULT_TARGETS = ["bare", "panther"]
WS_IMPLEMENTATIONS = {
    # uvicorn --ws value -> module it needs
    "websockets": "websockets",
    "websockets-sansio": "websockets",
    "wsproto": "wsproto",
    # No --ws, --loop or --http: the server's own choice (uvicorn: websockets-sansio when websockets is installed).
    "default": "websockets",
}
# Target name -> its --ws when the target does not say.
KINDS = {"bare": "websockets", "panther": "websockets", "panther-run": "default"}
UVICORN_COMMON = ["--loop", "uvloop", "--http", "httptools"]

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
# Lower is better.  INFORMATIONAL is Autobahn saying "no verdict", so it ranks
# with OK; a case a target did not report at all ranks below everything.
BEHAVIOR_RANK = {"OK": 0, "INFORMATIONAL": 0, "NON-STRICT": 1, "UNIMPLEMENTED": 2, "FAILED": 3}
CLOSE_RANK = {
    "OK": 0,
    "INFORMATIONAL": 0,
    "FAILED BY CLIENT": 1,
    "WRONG CODE": 2,
    "UNCLEAN": 2,
    "FAILED": 3,
}
MISSING = "MISSING"
MISSING_RANK = 9

SETUP_STEP_TIMEOUT = 900  # seconds, per setup command
SERVER_START_TIMEOUT = 30
SERVER_STOP_TIMEOUT = 10


class RunError(Exception):
    """The run could not be done (as opposed to a target scoring badly)."""


# --------------------------------------------------------------------------- #
# Python 2.7 + Autobahn|Testsuite setup
# --------------------------------------------------------------------------- #


def log(msg: str) -> None:
    print(f"[compliance] {msg}", flush=True)


def run_logged(cmd: list[str], logfile: Path, timeout: float, **kwargs) -> None:
    """Run cmd, appending its output to logfile; raise RunError on failure."""
    with logfile.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            proc = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False, **kwargs
            )
        except subprocess.TimeoutExpired as exc:
            raise RunError(f"timed out after {timeout}s: {' '.join(cmd)} (log: {logfile})") from exc
    if proc.returncode != 0:
        tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-25:])
        raise RunError(f"failed ({proc.returncode}): {' '.join(cmd)}\n{tail}\n(log: {logfile})")


def find_python27() -> Path:
    candidates: list[Path] = []
    if os.environ.get("PY27"):
        candidates.append(Path(os.environ["PY27"]))
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates.append(pyenv_root / "versions" / "2.7.18" / "bin" / "python")
    candidates.extend(sorted((pyenv_root / "versions").glob("2.7*/bin/python"), reverse=True))
    on_path = shutil.which("python2.7")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RunError(
        "no Python 2.7 interpreter found (looked for $PY27, pyenv's 2.7.18 and python2.7); "
        "the Autobahn|Testsuite needs one"
    )


def setup_fingerprint(py27: Path) -> str:
    digest = hashlib.sha256(REQUIREMENTS27.read_bytes())
    digest.update(str(py27).encode())
    return digest.hexdigest()


def ensure_wstest() -> Path:
    """Return the path to wstest, building compliance/.venv27 first if needed."""
    wstest = VENV27 / "bin" / "wstest"
    py27 = find_python27()
    fingerprint = setup_fingerprint(py27)
    if wstest.exists() and STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return wstest

    REPORTS.mkdir(parents=True, exist_ok=True)
    setup_log = REPORTS / "setup.log"
    setup_log.write_text("")
    log(f"setting up Python 2.7 Autobahn|Testsuite in {VENV27} (log: {setup_log})")
    if VENV27.exists():
        shutil.rmtree(VENV27)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore")
    with tempfile.TemporaryDirectory(prefix="compliance-virtualenv-") as tmp:
        # virtualenv 20.22 dropped Python 2 targets; use an older one from a
        # throwaway Python 3 venv.
        helper = Path(tmp) / "venv"
        run_logged([sys.executable, "-m", "venv", str(helper)], setup_log, SETUP_STEP_TIMEOUT)
        run_logged(
            [str(helper / "bin" / "pip"), "install", "-q", "virtualenv<20.22"],
            setup_log,
            SETUP_STEP_TIMEOUT,
            env=env,
        )
        run_logged(
            [str(helper / "bin" / "virtualenv"), "-q", "-p", str(py27), str(VENV27)],
            setup_log,
            SETUP_STEP_TIMEOUT,
            env=env,
        )
    pip27 = str(VENV27 / "bin" / "pip")
    install = [pip27, "install", "-r", str(REQUIREMENTS27)]
    run_logged(install, setup_log, SETUP_STEP_TIMEOUT, env=env)
    run_logged([pip27, "check"], setup_log, SETUP_STEP_TIMEOUT, env=env)
    run_logged([str(wstest), "--autobahnversion"], setup_log, 60, env=env)
    STAMP.write_text(fingerprint + "\n")
    log("Python 2.7 setup done")
    return wstest


# --------------------------------------------------------------------------- #
# Targets
# --------------------------------------------------------------------------- #


@dataclass
class Target:
    spec: str  # as given on the command line
    kind: str  # bare | panther | panther-run
    ws: str  # uvicorn --ws value, or "default" for none
    agent: str = ""  # name in reports
    max_message_size: int | None = None  # --max-message-size
    # The full run's result of each case, and every result seen for it
    # (the full run plus the reruns).
    results: dict[str, tuple[str, str]] = field(default_factory=dict)
    attempts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    error: str | None = None

    def record(self, results: dict[str, tuple[str, str]]) -> None:
        if not self.results:
            self.results = dict(results)
        for case, result in results.items():
            self.attempts.setdefault(case, []).append(result)

    @property
    def label(self) -> str:
        app = {
            "bare": "compliance/echo_app.py",
            "panther": "examples/echo (panther run)",
            "panther-run": "compliance/panther_echo.py (panther run)",
        }[self.kind]
        server = (
            f"uvicorn defaults ({default_stack()})"
            if self.ws == "default"
            else f"uvicorn {' '.join(UVICORN_COMMON)} --ws {self.ws}"
        )
        size = f", max message {self.max_message_size} B" if self.max_message_size else ""
        return f"{app}, {server}{size}"


def default_stack() -> str:
    """What uvicorn picks with no --loop, --http or --ws (its "auto")."""
    names = []
    for module, attribute in (
        ("uvicorn.protocols.http.auto", "AutoHTTPProtocol"),
        ("uvicorn.protocols.websockets.auto", "AutoWebSocketsProtocol"),
    ):
        try:
            names.append(getattr(__import__(module, fromlist=[attribute]), attribute).__name__)
        except (ImportError, AttributeError):
            names.append(f"{module}?")
    try:
        __import__("uvloop")
        names.insert(0, "uvloop")
    except ImportError:
        names.insert(0, "asyncio")
    return ", ".join(names)


def parse_target(spec: str, max_message_size: int | None = None) -> Target:
    kind, _, ws = spec.partition(":")
    if kind not in KINDS:
        raise RunError(f"unknown target {spec!r}: use bare[:WS], panther[:WS] or panther-run[:WS]")
    ws = ws or KINDS[kind]
    if ws not in WS_IMPLEMENTATIONS:
        raise RunError(f"unknown --ws {ws!r} in {spec!r}: one of {', '.join(WS_IMPLEMENTATIONS)}")
    if max_message_size and kind == "panther":
        raise RunError(
            "--max-message-size cannot reach examples/echo (its WS_MAX_MESSAGE_SIZE is fixed): "
            "use the panther-run target"
        )
    agent = kind if ws == KINDS[kind] else f"{kind}-{ws}"
    return Target(spec=spec, kind=kind, ws=ws, agent=agent, max_message_size=max_message_size)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def panther_command() -> list[str]:
    script = Path(sys.executable).parent / "panther"
    if script.exists():
        return [str(script)]
    found = shutil.which("panther")
    if found:
        return [found]
    raise RunError("the `panther` command is not installed (pip install -e . from the repo root)")


def server_command(target: Target, port: int) -> tuple[list[str], Path]:
    uvicorn_opts = ["--host", HOST, "--port", str(port)]
    if target.ws != "default":
        uvicorn_opts += [*UVICORN_COMMON, "--ws", target.ws]
    if target.kind == "bare":
        if target.max_message_size:
            uvicorn_opts += ["--ws-max-size", str(target.max_message_size)]
        cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "echo_app:app"]
        return [*cmd, *uvicorn_opts, "--log-level", "warning"], REPO
    if target.kind == "panther-run":
        # Only what any `panther run` needs: the limits come from the app (WS_MAX_MESSAGE_SIZE).
        return [*panther_command(), "run", "panther_echo:app", *uvicorn_opts], HERE
    if not PANTHER_EXAMPLE.exists():
        raise RunError(f"{PANTHER_EXAMPLE.relative_to(REPO)} does not exist (yet)")
    return [*panther_command(), "run", "main:app", *uvicorn_opts], PANTHER_EXAMPLE.parent


def check_ws_module(target: Target) -> None:
    module = WS_IMPLEMENTATIONS[target.ws]
    try:
        metadata.version(module)
    except metadata.PackageNotFoundError as exc:
        raise RunError(f"target {target.spec!r} needs the {module!r} package installed") from exc


def handshake_ok(port: int) -> tuple[bool, str]:
    """Try one WebSocket opening handshake on WS_PATH; return (ok, status line)."""
    request = (
        f"GET {WS_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(1024)
            if not chunk:
                break
            data += chunk
        # Close politely: masked close frame with code 1000, then hang up.
        if data.startswith(b"HTTP/1.1 101"):
            try:
                sock.sendall(bytes([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]))
            except OSError:
                pass
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return status.startswith("HTTP/1.1 101"), status or "(no answer)"


def start_server(target: Target, port: int, logfile: Path) -> subprocess.Popen:
    cmd, cwd = server_command(target, port)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("COMPLIANCE_MAX_MESSAGE_SIZE", None)
    if target.kind == "panther-run" and target.max_message_size:
        env["COMPLIANCE_MAX_MESSAGE_SIZE"] = str(target.max_message_size)
    log(f"{target.agent}: starting {' '.join(cmd)} (cwd {cwd.relative_to(REPO) or '.'})")
    out = logfile.open("w")
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    out.close()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"{target.agent}: server exited with {proc.returncode}\n{tail(logfile)}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        stop_server(proc)
        raise RunError(f"{target.agent}: server did not listen within {SERVER_START_TIMEOUT}s")
    ok, status = handshake_ok(port)
    if not ok:
        stop_server(proc)
        raise RunError(f"{target.agent}: WebSocket handshake on {WS_PATH} answered {status!r}")
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            continue


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


Results = dict[str, tuple[str, str]]  # case id -> (behavior, behaviorClose)


def run_wstest(
    target: Target, wstest: Path, cases: list[str], timeout: float, outdir: Path
) -> Results:
    """Serve `target` afresh, run wstest on `cases` against it, return its results."""
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    check_ws_module(target)
    port = free_port()
    proc = start_server(target, port, outdir / "server.log")
    try:
        spec = {
            "outdir": str(outdir),
            "servers": [{"agent": target.agent, "url": f"ws://{HOST}:{port}{WS_PATH}"}],
            "cases": cases,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        spec_file = outdir / "fuzzingclient.json"
        spec_file.write_text(json.dumps(spec, indent=2))
        shown = ", ".join(cases) if len(cases) <= 12 else f"{len(cases)} cases"
        log(f"{target.agent}: running wstest fuzzingclient on {shown}")
        started = time.monotonic()
        run_logged(
            [str(wstest), "-m", "fuzzingclient", "-s", str(spec_file)],
            outdir / "wstest.log",
            timeout,
            cwd=outdir,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
        )
        log(f"{target.agent}: wstest finished in {time.monotonic() - started:.0f}s")
    finally:
        stop_server(proc)
    index = outdir / "index.json"
    if not index.exists():
        raise RunError(f"{target.agent}: wstest wrote no {index}")
    data = json.loads(index.read_text()).get(target.agent, {})
    results = {
        case: (result.get("behavior", "FAILED"), result.get("behaviorClose", "FAILED"))
        for case, result in data.items()
    }
    if not results:
        raise RunError(f"{target.agent}: wstest reported no case")
    return results


# --------------------------------------------------------------------------- #
# Summary
# --------------------------------------------------------------------------- #


def case_key(case: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case.split(".") if part.isdigit())


def rank(result: tuple[str, str] | None) -> tuple[int, int]:
    if result is None:
        return MISSING_RANK, MISSING_RANK
    behavior, close = result
    return BEHAVIOR_RANK.get(behavior, MISSING_RANK), CLOSE_RANK.get(close, MISSING_RANK)


def fmt(result: tuple[str, str] | None) -> str:
    if result is None:
        return MISSING
    return f"{result[0]} / close {result[1]}"


def spread(target: Target, case: str) -> tuple[int, int, int, int]:
    """Best and worst (behavior rank, close rank) over a case's attempts."""
    ranks = [rank(result) for result in target.attempts.get(case, [])] or [rank(None)]
    behavior, close = [r[0] for r in ranks], [r[1] for r in ranks]
    return min(behavior), min(close), max(behavior), max(close)


def compare(baseline: Target, other: Target) -> list[tuple[str, str, str]]:
    """Cases where `other` does worse than `baseline`, on behavior or on closing.

    With reruns a case has several results per target; it counts as worse only
    when every result through `other` is worse than every result through the
    baseline (so a race that the baseline also loses now and then is no
    regression, while a consistent difference is).
    """
    worse = []
    for case in sorted(set(baseline.attempts) | set(other.attempts), key=case_key):
        _, _, base_worst_b, base_worst_c = spread(baseline, case)
        mine_best_b, mine_best_c, _, _ = spread(other, case)
        if mine_best_b > base_worst_b or mine_best_c > base_worst_c:
            worse.append((case, attempts_text(baseline, case), attempts_text(other, case)))
    return worse


def attempts_text(target: Target, case: str) -> str:
    counts = Counter(fmt(result) for result in target.attempts.get(case, [None]))
    return ", ".join(f"{n}x {text}" if n > 1 else text for text, n in counts.most_common())


def timing_dependent(target: Target) -> list[str]:
    return [
        f"{case} ({attempts_text(target, case)})"
        for case in sorted(target.attempts, key=case_key)
        if len(set(target.attempts[case])) > 1
    ]


def versions() -> str:
    names = ["uvicorn", "uvloop", "httptools", "websockets", "wsproto"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return f"Python {platform.python_version()}, " + ", ".join(found)


def build_report(
    targets: list[Target], cases: list[str], regressions: dict[str, list], retries: int
) -> str:
    baseline = targets[0]
    lines = [
        "# Autobahn|Testsuite compliance",
        "",
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by "
        f"`python compliance/run.py {' '.join(t.spec for t in targets)}`.",
        "",
        f"- Cases: {', '.join(cases)} (wstest fuzzingclient, Autobahn|Testsuite "
        f"{autobahn_version()}, Python 2.7)",
        f"- Server: per target (below) on {HOST}; {versions()}",
        f"- panther tree: {tree_revision()}",
        f"- Baseline: `{baseline.spec}`. The table counts one full pass per target. A case "
        f"a target seems worse on is rerun (up to {retries} times) for it and the baseline; "
        "it is listed as worse only if every result through the target is worse than every "
        "result through the baseline. Detailed reports: compliance/reports/<target>/",
        "",
        "| target | app and server | "
        + " | ".join(BEHAVIORS)
        + " | other | close not OK | total |",
        "|---|---|" + "---:|" * (len(BEHAVIORS) + 3),
    ]
    for target in targets:
        if target.error:
            lines.append(f"| {target.agent} | {target.label} | run failed: {target.error} |")
            continue
        counts = Counter(behavior for behavior, _ in target.results.values())
        other = sum(n for name, n in counts.items() if name not in BEHAVIORS)
        close_bad = sum(1 for _, c in target.results.values() if CLOSE_RANK.get(c, 9) > 0)
        cells = [str(counts.get(name, 0)) for name in BEHAVIORS]
        lines.append(
            f"| {target.agent} | {target.label} | {' | '.join(cells)} | {other} | "
            f"{close_bad} | {len(target.results)} |"
        )
    lines.append("")
    for target in targets:
        if target.error or not target.results:
            continue
        not_ok = [
            f"{case} ({fmt(result)})"
            for case, result in sorted(target.results.items(), key=lambda kv: case_key(kv[0]))
            if rank(result) != (0, 0)
        ]
        if not_ok:
            lines.append(f"Cases of `{target.agent}` not OK: " + "; ".join(not_ok))
            lines.append("")
        varied = timing_dependent(target)
        if varied:
            lines.append(f"Cases of `{target.agent}` whose result varied: " + "; ".join(varied))
            lines.append("")
    for target in targets[1:]:
        if target.error or baseline.error:
            lines.append(f"`{target.agent}` vs `{baseline.agent}`: not compared (a run failed).")
            lines.append("")
            continue
        worse = regressions.get(target.agent, [])
        if not worse:
            lines.append(f"`{target.agent}` vs `{baseline.agent}`: worse on no case.")
            lines.append("")
            continue
        lines.append(f"`{target.agent}` vs `{baseline.agent}`: worse on {len(worse)} case(s):")
        lines.append("")
        lines.append(f"| case | {baseline.agent} | {target.agent} |")
        lines.append("|---|---|---|")
        lines.extend(f"| {case} | {base} | {mine} |" for case, base, mine in worse)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def tree_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "panther", "examples"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{head} (with uncommitted changes)" if dirty else head


def autobahn_version() -> str:
    for line in REQUIREMENTS27.read_text().splitlines():
        if line.lower().startswith("autobahntestsuite=="):
            return line.split("==", 1)[1]
    return "?"


# --------------------------------------------------------------------------- #


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run the Autobahn|Testsuite against the bare echo app and panther's echo.",
        epilog="TARGET: bare[:WS], panther[:WS] or panther-run[:WS], WS one of "
        + ", ".join(WS_IMPLEMENTATIONS)
        + " (default websockets; panther-run: default, i.e. no --ws/--loop/--http, as a plain "
        "`panther run`). The first target is the baseline.",
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", default=DEFAULT_TARGETS)
    parser.add_argument(
        "--cases",
        default=",".join(DEFAULT_CASES),
        help="comma-separated Autobahn case patterns (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds allowed for one wstest run"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=5,
        help="reruns of the cases a target seems worse on (default: %(default)s)",
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS_MD, help="markdown summary (default: %(default)s)"
    )
    parser.add_argument(
        "--max-message-size",
        type=int,
        metavar="BYTES",
        help="WS_MAX_MESSAGE_SIZE of panther-run and --ws-max-size of bare targets "
        "(9.* sends messages up to 16 MiB: use 33554432)",
    )
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]

    try:
        targets = [parse_target(spec, args.max_message_size) for spec in args.targets]
        seen: Counter[str] = Counter()
        for target in targets:  # `bare bare` is a valid A/A run: name them apart
            seen[target.agent] += 1
            if seen[target.agent] > 1:
                target.agent = f"{target.agent}-{seen[target.agent]}"
        for target in targets:  # fail before the long part if a target cannot run
            check_ws_module(target)
            if target.kind != "bare":
                panther_command()
            if target.kind == "panther" and not PANTHER_EXAMPLE.exists():
                raise RunError(f"{PANTHER_EXAMPLE.relative_to(REPO)} does not exist (yet)")
        wstest = ensure_wstest()
    except RunError as exc:
        log(f"ERROR: {exc}")
        return 2

    REPORTS.mkdir(parents=True, exist_ok=True)
    for target in targets:
        try:
            target.record(run_wstest(target, wstest, cases, args.timeout, REPORTS / target.agent))
        except RunError as exc:
            target.error = str(exc).splitlines()[0]
            log(f"ERROR: {exc}")

    baseline = targets[0]
    others = [t for t in targets[1:] if not t.error and not baseline.error]
    # Some cases race the app's echo against the server failing the connection
    # (3.4, 4.1.5, 4.2.5 flip between OK and NON-STRICT from one run to the next
    # on the bare app alone).  Rerun the cases a target seems worse on, for it
    # and for the baseline, and compare all the results seen (see compare()).
    for attempt in range(1, args.retries + 1):
        disputed = sorted(
            {case for t in others for case, _, _ in compare(baseline, t)}, key=case_key
        )
        if not disputed:
            break
        log(f"rerun {attempt}/{args.retries} of {len(disputed)} disputed case(s)")
        for target in [baseline, *others]:
            try:
                outdir = REPORTS / target.agent / f"rerun-{attempt}"
                target.record(run_wstest(target, wstest, disputed, args.timeout, outdir))
            except RunError as exc:
                target.error = str(exc).splitlines()[0]
                log(f"ERROR: {exc}")
        if baseline.error:
            others = []
        others = [t for t in others if not t.error]
    regressions = {t.agent: compare(baseline, t) for t in others}
    report = build_report(targets, cases, regressions, args.retries)
    args.results.write_text(report)
    print()
    print(report)
    log(f"summary written to {args.results}")

    if any(t.error for t in targets):
        return 2
    return 1 if any(regressions.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
