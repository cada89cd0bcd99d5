"""An offline live run: ``freqtrade trade --dry-run`` against the replay exchange's live clock.

The replay exchange shifts the bundled history so that the bot sees fresh candles
(:class:`~metalabel.ops.replay.clock.LiveClock`); freqtrade runs unmodified in a subprocess
with its REST API on 127.0.0.1. The API password and JWT secret are generated for the
session and reach freqtrade only through ``FREQTRADE__API_SERVER__*`` environment
variables, never through a tracked file; they are also written, mode 0600, to a
git-ignored env file so that ``metalabel health`` and people can log in.

Everything else a session writes (overlay config, candles, database, FreqAI models) goes
to a temporary directory, so the dry run never touches the files or the kill-switch
state of a real bot.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from metalabel.ops.health import ENV_PASSWORD, ENV_URL, ENV_USERNAME, ApiCredentials
from metalabel.ops.replay import ReplayServer
from metalabel.ops.replay.clock import Clock, LiveClock
from metalabel.ops.runner import (
    BUNDLED_DATA,
    MAIN_CONFIG,
    PROJECT_ROOT,
    USER_DATA,
    freqtrade_executable,
    replay_overlay,
)

logger = logging.getLogger(__name__)

DEFAULT_ENV_FILE = USER_DATA / "dryrun.env"
ENV_JWT_SECRET = "FREQTRADE__API_SERVER__JWT_SECRET_KEY"
MODES = ("primary", "primary_regime", "meta")
# Its own FreqAI identifier: a dry run trains on shifted history and must never
# overwrite (or be mistaken for) the models of a real bot.
DRYRUN_IDENTIFIER = "metalabel-dryrun"


class DryRunError(RuntimeError):
    """freqtrade did not come up (it exited, or its API never answered)."""


@dataclass(frozen=True)
class DryRunSession:
    """A running dry-run bot: how to reach its API and where its files are."""

    credentials: ApiCredentials
    jwt_secret: str
    replay: ReplayServer
    process: subprocess.Popen[bytes]
    workdir: Path
    env_file: Path | None

    @property
    def api_url(self) -> str:
        return self.credentials.url


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (freqtrade's API needs a fixed one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def generate_credentials(url: str, username: str = "metalabel") -> tuple[ApiCredentials, str]:
    """A fresh random API password and JWT secret (URL- and shell-safe characters)."""
    return ApiCredentials(url, username, secrets.token_urlsafe(24)), secrets.token_urlsafe(48)


def dryrun_overlay(
    replay_url: str, *, mode: str, api_port: int, process_throttle_secs: int = 5
) -> dict[str, Any]:
    """Config overlay of a dry-run session, applied after ``user_data/config.json``.

    Force entries are switched on here only: the REST API is on loopback with a
    session password, and a dry run is where an operator rehearses /forceenter.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    overlay: dict[str, Any] = {
        "dry_run": True,
        "force_entry_enable": True,
        "initial_state": "running",
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": api_port},
        "metalabel": {"mode": mode},
        "freqai": {"enabled": mode == "meta", "identifier": DRYRUN_IDENTIFIER},
        "internals": {"process_throttle_secs": process_throttle_secs},
    }
    overlay.update(replay_overlay(replay_url))
    return overlay


def write_env_file(path: Path, credentials: ApiCredentials, jwt_secret: str) -> None:
    """The session's credentials, readable by the owner only (0600 from creation on)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# metalabel dryrun session credentials; git-ignored, rewritten by every session",
        f"{ENV_URL}={credentials.url}",
        f"{ENV_USERNAME}={credentials.username}",
        f"{ENV_PASSWORD}={credentials.password}",
        f"{ENV_JWT_SECRET}={jwt_secret}",
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_TRUNC


def _wait_for_api(
    process: subprocess.Popen[bytes], credentials: ApiCredentials, timeout_seconds: float
) -> None:
    """Until the API answers an authenticated request, freqtrade exits, or time runs out."""
    deadline = time.monotonic() + timeout_seconds
    auth = (credentials.username, credentials.password)
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise DryRunError(f"freqtrade exited with code {code} during start-up")
        try:
            response = requests.get(f"{credentials.url}/api/v1/show_config", auth=auth, timeout=2)
            if response.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise DryRunError(f"freqtrade's API at {credentials.url} did not answer in {timeout_seconds} s")


def stop_process(process: subprocess.Popen[bytes], timeout_seconds: float = 30.0) -> int:
    """SIGINT first (freqtrade shuts down cleanly on it), SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            logger.warning("freqtrade did not stop in %.0f s; killing it", timeout_seconds)
            process.kill()
            process.wait()
    return process.returncode


@contextmanager
def dryrun_session(
    *,
    mode: str = "primary_regime",
    api_port: int | None = None,
    lead_hours: int = 720,
    env_file: Path | None = DEFAULT_ENV_FILE,
    config: Path = MAIN_CONFIG,
    data_dir: Path = BUNDLED_DATA,
    workdir: Path | None = None,
    extra_overlay: Mapping[str, Any] | None = None,
    startup_timeout_seconds: float = 120.0,
    output: int | None = None,
    clock: Clock | None = None,
    launcher: Sequence[str] | None = None,
) -> Iterator[DryRunSession]:
    """Start the replay live clock and ``freqtrade trade --dry-run``; stop both on exit.

    Yields once freqtrade's REST API answers. ``output`` is where freqtrade's stdout and
    stderr go (default: inherited, i.e. the terminal). ``env_file=None`` writes no
    credentials file (tests); a file that is written is removed again on exit.
    """
    port = api_port or free_port()
    if not _port_is_free(port):
        # freqtrade would log the bind error and run on without its API
        raise DryRunError(f"127.0.0.1:{port} is in use; choose another API port")
    credentials, jwt_secret = generate_credentials(f"http://127.0.0.1:{port}")
    with ExitStack() as stack:
        server = stack.enter_context(ReplayServer(data_dir, clock=clock or LiveClock(lead_hours)))
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="metalabel-dr-")))
        userdir = workdir / "user_data"
        userdir.mkdir(parents=True, exist_ok=True)
        overlay = dryrun_overlay(server.url, mode=mode, api_port=port)
        overlay_path = workdir / "config.dryrun.json"
        overlay_path.write_text(json.dumps(overlay, indent=2))
        configs = [config, overlay_path]
        if extra_overlay:
            extra_path = workdir / "config.extra.json"
            extra_path.write_text(json.dumps(dict(extra_overlay), indent=2))
            configs.append(extra_path)
        command = [*(launcher or [freqtrade_executable()]), "trade", "--dry-run"]
        for path in configs:
            command += ["--config", str(path)]
        command += [
            "--userdir",
            str(userdir),
            # FreqAI downloads its training candles here; never into the bundled data
            "--datadir",
            str(workdir / "data"),
            "--db-url",
            f"sqlite:///{workdir / 'tradesv3.dryrun.sqlite'}",
            "--strategy-path",
            str(USER_DATA / "strategies"),
            "--freqaimodel-path",
            str(USER_DATA / "freqaimodels"),
        ]
        env = dict(os.environ)
        env.update(
            {
                ENV_USERNAME: credentials.username,
                ENV_PASSWORD: credentials.password,
                ENV_JWT_SECRET: jwt_secret,
            }
        )
        logger.info("starting %s", " ".join(command))
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            # its own process group: a Ctrl-C in the terminal reaches only us, and we
            # stop freqtrade in order (after it, the replay exchange)
            start_new_session=True,
        )
        stack.callback(stop_process, process)
        if env_file is not None:
            write_env_file(env_file, credentials, jwt_secret)
            stack.callback(env_file.unlink, missing_ok=True)
        _wait_for_api(process, credentials, startup_timeout_seconds)
        yield DryRunSession(credentials, jwt_secret, server, process, workdir, env_file)


def restart_bot(
    session: DryRunSession,
    *,
    output: int | None = None,
    startup_timeout_seconds: float = 120.0,
) -> subprocess.Popen[bytes]:
    """Start freqtrade again after its process died (crash, SIGKILL), on the session's own
    command line: same configs, user_data, database and API credentials.

    The replay exchange keeps running. The caller owns the returned process and stops it
    with :func:`stop_process`; the session only stops the process it started itself.
    """
    if session.process.poll() is None:
        raise DryRunError(f"freqtrade (pid {session.process.pid}) is still running")
    env = dict(os.environ)
    env.update(
        {
            ENV_USERNAME: session.credentials.username,
            ENV_PASSWORD: session.credentials.password,
            ENV_JWT_SECRET: session.jwt_secret,
        }
    )
    logger.info("restarting freqtrade on %s", session.workdir)
    process = subprocess.Popen(
        session.process.args,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )
    try:
        _wait_for_api(process, session.credentials, startup_timeout_seconds)
    except BaseException:
        stop_process(process)
        raise
    return process
