"""Checkpoints that cannot be read stop the sidecar at start with a clear error; ones that
cannot be written do not stop it, they are counted, exported and make /ready 503 (issue 16
item 11). Real file systems: a directory in the checkpoint's place, a checkpoint another user
owns (the sidecar run as ``nobody`` with setpriv: root reads anything), an immutable state
directory (``chattr +i``: root cannot write it either), a full tmpfs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aimon.checkpoint import CheckpointStore
from aimon.errors import CheckpointError
from aimon.sidecar import Sidecar
from tests.integration.conftest import SidecarProcess, free_port, http_get, wait_until

#: Root runs setpriv, chattr and mount (``make test`` installs them): as root these tests run
#: or fail, never skip; another user cannot make these file systems at all.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (setpriv, chattr, mount)")


def lines(count: int, start: int = 0) -> str:
    return "".join(
        json.dumps({"ts": time.time(), "model": "fraud", "latency_ms": 2.0, "request_id": f"r{i}"})
        + "\n"
        for i in range(start, start + count)
    )


def run_sidecar(log: Path, state: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    """``aimon sidecar`` run to its exit (it must refuse to start)."""
    command = [*prefix, sys.executable, "-m", "aimon", "sidecar", "--log-file", str(log),
               "--state-dir", str(state), "--host", "127.0.0.1",
               "--port", str(free_port())]  # fmt: skip
    return subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[1],
    )


def checkpointed(folder: Path, count: int) -> tuple[Path, Path]:
    """A log of ``count`` lines and a state directory holding its checkpoint."""
    log, state = folder / "p.log", folder / "state"
    log.write_text(lines(count))
    sidecar = Sidecar(str(log), state_dir=str(state))
    sidecar.step()
    sidecar.close()
    return log, state


def test_a_directory_in_place_of_the_checkpoint_refuses_to_start(tmp_path: Path) -> None:
    log, state = checkpointed(tmp_path, 10)
    os.replace(state / "checkpoint", state / "saved")
    (state / "checkpoint").mkdir()
    with pytest.raises(CheckpointError, match="not a regular file"):
        Sidecar(str(log), state_dir=str(state))
    done = run_sidecar(log, state)
    assert done.returncode == 2
    assert f"{state / 'checkpoint'}: the checkpoint exists but cannot be read" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_state_dir_that_is_a_file_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(CheckpointError, match="cannot use as the state directory"):
        Sidecar(str(tmp_path / "p.log"), state_dir=str(tmp_path / "state"))


@needs_root
def test_a_checkpoint_this_user_cannot_read_refuses_to_start() -> None:
    """Was: permission denied on both copies taken as corruption, a silent fresh start
    (5,000 lines lost)."""
    folder = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is root's alone
    try:
        folder.chmod(0o755)
        log, state = checkpointed(folder, 5000)
        state.chmod(0o755)  # nobody may list it, not read the 0600 checkpoints in it
        log.chmod(0o644)
        nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        done = run_sidecar(log, state, *nobody)
        assert done.returncode == 2, done.stderr
        assert f"{state / 'checkpoint'}: the checkpoint exists but cannot be read" in done.stderr
        assert "Permission denied" in done.stderr
        assert CheckpointStore(state).load()["lines"] == 5000  # untouched
    finally:
        shutil.rmtree(folder)


@contextlib.contextmanager
def immutable(folder: Path) -> Iterator[None]:
    """``chattr +i``: no file can be made, renamed or removed in ``folder``, even by root."""
    made = subprocess.run(["chattr", "+i", str(folder)], check=False, capture_output=True)
    if made.returncode != 0:
        pytest.fail(f"chattr +i {folder}: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def scrape(sidecar: SidecarProcess) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    body = http_get(f"{sidecar.url}/metrics")[2].decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name.startswith(("aimon_sidecar_checkpoint", "aimon_sidecar_lines"))
    }


def ready_status(sidecar: SidecarProcess) -> int:
    try:
        return http_get(f"{sidecar.url}/ready")[0]
    except OSError as exc:  # urllib's HTTPError for 503
        return int(getattr(exc, "code", 0))


@needs_root
def test_a_read_only_state_dir_keeps_the_sidecar_running_not_ready(tmp_path: Path) -> None:
    """Was: the first checkpoint raised PermissionError and the process died."""
    log, state = checkpointed(tmp_path, 100)
    port = free_port()
    sidecar = SidecarProcess(log, state, output=tmp_path / "sidecar.out", port=port)
    try:
        wait_until(sidecar.ready, timeout=60, what="the sidecar ready")
        with immutable(state):
            with log.open("a") as out:
                out.write(lines(50, 100))
            wait_until(lambda: ready_status(sidecar) == 503, timeout=30, what="/ready 503")
            wait_until(  # still reading
                lambda: scrape(sidecar)["aimon_sidecar_lines_total"] == 150, 30, what="150 lines"
            )
            seen = scrape(sidecar)
            assert seen["aimon_sidecar_checkpoint_failures_total"] >= 1
            assert sidecar.process.poll() is None
        wait_until(lambda: ready_status(sidecar) == 200, timeout=30, what="ready again")
        after = scrape(sidecar)
        assert time.time() - after["aimon_sidecar_checkpoint_last_success_timestamp_seconds"] < 30
        assert after["aimon_sidecar_checkpoint_failures_total"] >= seen[
            "aimon_sidecar_checkpoint_failures_total"]  # fmt: skip
    finally:
        sidecar.stop()
    assert sidecar.process.returncode == 0
    output = (tmp_path / "sidecar.out").read_text()
    assert output.count("cannot write the checkpoint") == 1  # logged once, not per probe
    assert CheckpointStore(state).load()["lines"] == 150


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        check=False,
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs on {folder}: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@needs_root
def test_a_full_disk_is_counted_and_retried(tmp_path: Path) -> None:
    """Was: OSError (No space left on device) out of the first checkpoint."""
    log = tmp_path / "p.log"
    log.write_text(lines(200))
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        sidecar = Sidecar(str(log), state_dir=str(disk / "state"))
        try:
            sidecar.step()
            sidecar.checkpoint()
            assert sidecar.ready() and sidecar.checkpoint_failures == 0
            filler = disk / "filler"
            with filler.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 65536)
            with log.open("a") as out:
                out.write(lines(10, 200))
            sidecar.step()
            sidecar.checkpoint()
            assert sidecar.checkpoint_failures == 1 and not sidecar.ready()
            assert "No space left on device" in (sidecar.checkpoint_error or "")
            assert not list((disk / "state").glob(".checkpoint.*"))  # no half-written file
            assert CheckpointStore(disk / "state").load()["lines"] == 200  # the last good one
            with pytest.raises(CheckpointError, match="No space left on device"):  # no ack
                sidecar.post_outcomes([{"request_id": "r1", "actual": 1}])
            filler.unlink()
            sidecar.checkpoint()
            assert sidecar.ready() and sidecar.checkpoint_error is None
        finally:
            sidecar.close()
        assert CheckpointStore(disk / "state").load()["lines"] == 210
