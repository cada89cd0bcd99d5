"""``metalabel`` sub-commands around the replay exchange: replay, dryrun, health, drill."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from metalabel.ops.cli_common import Subparsers


def _cmd_replay(args: argparse.Namespace) -> int:
    from metalabel.ops.replay import ReplayServer
    from metalabel.ops.replay.clock import HistoricalClock, LiveClock

    clock = LiveClock(lead_hours=args.lead_hours) if args.clock == "live" else HistoricalClock()
    server = ReplayServer(Path(args.data_dir), port=args.port, host=args.host, clock=clock)
    server.start()
    print(f"replay exchange ({args.clock} clock) listening on {server.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def _cmd_dryrun(args: argparse.Namespace) -> int:
    """freqtrade trade --dry-run against the replay live clock until Ctrl-C / SIGTERM."""
    from metalabel.ops.dryrun import DryRunError, dryrun_session

    env_file = Path(args.env_file)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with dryrun_session(
            mode=args.mode,
            api_port=args.api_port,
            lead_hours=args.lead_hours,
            env_file=env_file,
            config=Path(args.config[0]),
            startup_timeout_seconds=args.startup_timeout,
        ) as session:
            creds = session.credentials
            print(
                f"\ndry run ({args.mode}) against the replay exchange {session.replay.url}\n"
                f"REST API: {creds.url}/api/v1  (FreqUI at {creds.url} once installed with "
                "`freqtrade install-ui`, which needs internet)\n"
                f"login: username {creds.username}, password: FREQTRADE__API_SERVER__PASSWORD "
                f"in {env_file}\n"
                "(generated for this session; the file is mode 0600 and removed on exit)\n"
                f"health: metalabel health --env-file {env_file}\n"
                "Ctrl-C stops the bot and the replay exchange.\n",
                flush=True,
            )
            while not stop.wait(1.0):
                if session.process.poll() is not None:
                    print(f"freqtrade exited with code {session.process.returncode}")
                    return session.process.returncode or 1
    except DryRunError as err:
        print(f"dry run failed: {err}")
        return 1
    print("dry run stopped")
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    """One line per check; exit code 0 only when every check passes."""
    import time

    from metalabel.ops.health import BotClient, HealthLimits, resolve_credentials, run_checks

    config_path = Path(args.config[0])
    try:
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        config = {}
    credentials = resolve_credentials(
        url=args.url, username=args.username, env_file=Path(args.env_file), config=config
    )
    limits = HealthLimits(
        candle_grace_seconds=args.grace_minutes * 60,
        process_max_age_seconds=args.process_max_age,
    )
    client = BotClient(credentials, timeout_seconds=args.timeout)
    try:
        results = run_checks(client, now_s=time.time(), limits=limits, pairs=args.pair or None)
    finally:
        client.close()
    for result in results:
        print(result.line())
    return 0 if results and all(r.ok for r in results) else 1


def _cmd_drill(args: argparse.Namespace) -> int:
    """One line per drill, then drills_passed=N/M; exit code 0 only when all pass."""
    from metalabel.ops.drills import DrillResult, run_drills, summary
    from metalabel.ops.dryrun import DryRunError

    def show(result: DrillResult) -> None:
        print(result.line(), flush=True)

    try:
        results = run_drills(
            names=tuple(args.only or ()),
            log_path=Path(args.log) if args.log else None,
            on_result=show,
        )
    except (DryRunError, ValueError) as err:
        print(f"drill session failed: {err}")
        return 1
    print(summary(results))
    return 0 if results and all(r.passed for r in results) else 1


def register_replay(sub: Subparsers) -> None:
    """replay (listed first in ``metalabel --help``)."""
    from metalabel.ops.runner import BUNDLED_DATA

    replay = sub.add_parser("replay", help="serve the bundled data as a Bybit v5 market API")
    replay.add_argument("--port", type=int, default=18269)
    replay.add_argument("--host", default="127.0.0.1")
    replay.add_argument("--clock", choices=["historical", "live"], default="historical")
    replay.add_argument(
        "--lead-hours",
        type=int,
        default=720,
        help="live clock: hours of data still ahead of 'now' at start",
    )
    replay.add_argument("--data-dir", default=str(BUNDLED_DATA))
    replay.set_defaults(func=_cmd_replay)


def register(sub: Subparsers) -> None:
    """dryrun, health, drill: a bot run against the replay exchange, and its checks."""
    from metalabel.ops.runner import USER_DATA

    dryrun = sub.add_parser(
        "dryrun", help="freqtrade trade --dry-run offline, against the replay live clock"
    )
    dryrun.add_argument(
        "--mode",
        choices=["primary", "primary_regime", "meta"],
        default="primary_regime",
        help="strategy mode; 'meta' enables FreqAI, which trains at start-up (minutes)",
    )
    dryrun.add_argument("--api-port", type=int, default=8080, help="REST API port on 127.0.0.1")
    dryrun.add_argument(
        "--lead-hours", type=int, default=720, help="hours of replayed candles still ahead"
    )
    dryrun.add_argument("--config", action="append", default=None)
    dryrun.add_argument("--env-file", default=str(USER_DATA / "dryrun.env"))
    dryrun.add_argument(
        "--startup-timeout", type=float, default=900.0, help="seconds to wait for the API"
    )
    dryrun.set_defaults(func=_cmd_dryrun)

    health = sub.add_parser(
        "health", help="check a running bot through its REST API (exit code 0 = healthy)"
    )
    health.add_argument("--url", default=None, help="default: env, --env-file, then config")
    health.add_argument("--username", default=None)
    health.add_argument(
        "--env-file",
        default=str(USER_DATA / "dryrun.env"),
        help="credentials file of `metalabel dryrun` (the environment wins over it)",
    )
    health.add_argument("--config", action="append", default=None)
    health.add_argument("--pair", action="append", default=None, help="default: the whitelist")
    health.add_argument(
        "--grace-minutes", type=float, default=10.0, help="candle age allowed beyond a timeframe"
    )
    health.add_argument(
        "--process-max-age", type=float, default=180.0, help="seconds since the last bot loop"
    )
    health.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    health.set_defaults(func=_cmd_health)

    drill = sub.add_parser(
        "drill", help="fault drills: a dry-run bot against a faulty replay exchange"
    )
    drill.add_argument("--only", action="append", default=None, help="run only this drill")
    drill.add_argument("--log", default=None, help="keep freqtrade's output in this file")
    drill.set_defaults(func=_cmd_drill)
