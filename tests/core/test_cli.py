"""The `pems` command as a user runs it: real subprocesses on a scratch SQLite database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PEMS = [sys.executable, "-m", "pems.cli"]


@pytest.fixture
def scratch_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEMS_")}
    env.update(
        PEMS_DATA_DIR=str(tmp_path / "var"),
        PEMS_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'pems.sqlite3'}",
        PEMS_LANGUAGE="en",
    )
    return env


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEMS, *args],
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_init_creates_the_database_catalogue_and_admin_without_prompting(scratch_env):
    out = run(
        scratch_env, "init", "--admin-username", "ops", "--admin-password", "s3cret-pass"
    ).stdout
    assert "meter catalogue: 5 models" in out
    assert "admin 'ops' created" in out
    again = run(scratch_env, "init", "--admin-username", "ops", "--admin-password", "new-pass-1")
    assert "admin 'ops' updated" in again.stdout
    assert Path(scratch_env["PEMS_DATA_DIR"], "static", "staticfiles.json").exists()


def test_init_takes_the_admin_from_the_environment(scratch_env):
    env = {**scratch_env, "PEMS_ADMIN_USERNAME": "envadmin", "PEMS_ADMIN_PASSWORD": "pw-from-env"}
    assert "admin 'envadmin' created" in run(env, "init", "--skip-static").stdout


def test_init_refuses_a_username_without_password_instead_of_prompting(scratch_env):
    result = run(scratch_env, "init", "--admin-username", "ops", check=False)
    assert result.returncode != 0
    assert "--admin-password" in result.stderr


def test_check_passes_with_at_most_warnings(scratch_env):
    result = run(scratch_env, "check", "--fail-level", "ERROR")
    assert "System check identified" in result.stdout + result.stderr  # warnings go to stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_pages_and_static_files_itself(scratch_env):
    run(scratch_env, "init", "--skip-static")
    port = free_port()
    server = subprocess.Popen(
        [*PEMS, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=scratch_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        login = wait_for(f"http://127.0.0.1:{port}/admin/login/")
        assert "<title>Log in | PEMS</title>" in login
        # Static files come from the server itself (WhiteNoise), hashed, never from a CDN.
        css = [part.split('"')[0] for part in login.split('href="')[1:] if ".css" in part]
        assert css
        assert all(href.startswith("/static/") for href in css)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{css[0]}", timeout=5) as response:
            assert response.status == 200
        assert "gunicorn" in server_banner(port)
        # Its control socket is the instance's own, not one per user two servers would share.
        control = Path(scratch_env["PEMS_DATA_DIR"]) / "gunicorn.ctl"
        deadline = time.monotonic() + 10
        while not control.is_socket() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert control.is_socket()
    finally:
        server.terminate()
        server.wait(timeout=15)


def wait_for(url: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def server_banner(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as response:
        return response.headers.get("Server", "")
