"""``--py-spy DIR``: py-spy samples the application's API under a load, into collapsed stacks."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.context import Run
from bench.stack import Service


def record(run: Run, service: Service, label: str) -> subprocess.Popen[bytes] | None:
    """With ``--py-spy DIR``: py-spy samples the application's API (every process of it)
    under a load (write, read, the fan-out): collapsed stacks ``DIR/<label>.folded``
    (speedscope and flamegraph.pl read them; ``bench/profile_read_side.py top`` ranks them).
    Sampling costs the API some CPU: figures of a profiled run are not for the record."""
    if run.py_spy is None or not label.startswith("app"):
        return None
    binary = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if binary is None:
        raise RuntimeError("--py-spy: py-spy is not installed (make bench installs it)")
    run.py_spy.mkdir(parents=True, exist_ok=True)
    output = run.py_spy / f"{label}.folded"
    command = [binary, "record", "--pid", str(service.pid), "--subprocesses", "--rate", "250"]
    command += ["--nonblocking", "--format", "raw", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603


def stop_recording(run: Run, recording: subprocess.Popen[bytes] | None) -> None:
    if recording is None or recording.returncode is not None:
        return
    recording.send_signal(signal.SIGINT)
    try:
        recording.wait(timeout=60)
    except subprocess.TimeoutExpired:
        recording.kill()
        recording.wait()
    run.log(f"  py-spy profile written to {run.py_spy}")
