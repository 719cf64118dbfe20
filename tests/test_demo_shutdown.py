"""`make demo` (ducha demo) stops all of its processes on Ctrl-C and on SIGTERM: the API, the
scheduler and Dramatiq's worker, which takes a second SIGTERM as "exit now" and then hangs,
orphaned, on its consumer threads. Each child must get one stop signal, never two."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _run_demo_and_stop(url: str, log_path, how: str) -> str:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:6379/9", "PORT": str(port)}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ducha.cli", "demo", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, open(log_path, encoding="utf-8", errors="replace").read()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the demo did not come up"
            time.sleep(0.5)
        text = ""
        for _ in range(60):  # the worker reports itself ready
            text = open(log_path, encoding="utf-8", errors="replace").read()
            if "Worker process is ready" in text:
                break
            time.sleep(0.5)
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal does
        else:
            proc.send_signal(signal.SIGTERM)  # what a supervisor does
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _group(proc.pid)
        return open(log_path, encoding="utf-8", errors="replace").read() + (f"\nLEFT: {left}" if left else "")
    finally:
        for pid in _group(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
async def test_the_demo_stops_every_process_once(settings, how, tmp_path):
    from ducha.bench._scratch import scratch_database
    from ducha.settings import get_settings

    try:
        async with scratch_database("ducha_demo_stop") as url:
            text = await asyncio.to_thread(_run_demo_and_stop, url, tmp_path / "demo.log", how)
    finally:
        get_settings.cache_clear()
    assert "LEFT:" not in text, text[-3000:]
    assert "Worker has been shut down" in text, text[-3000:]
    assert "Killing worker process" not in text, text[-3000:]
