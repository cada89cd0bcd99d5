"""A throw-away PostgreSQL cluster for the storage tests, the checks they share, and
synthetic candles for the nested research tests."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import sqlalchemy
from optuna.trial import TrialState

from metalabel.config import load_config
from metalabel.core.pipeline import CandleBundle
from metalabel.evaluation.folds import Fold
from metalabel.evaluation.research import nested
from metalabel.evaluation.research.storage import _engine_url


def _postgres_bin() -> Path | None:
    """Debian keeps the server's programs off PATH, under /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 in a temp dir, stopped and removed after.

    As root it runs as the ``postgres`` user (the server refuses root).
    """
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server installed (initdb not found; .ci/run installs it)")
    prefix: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="metalabel-pg-"))
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*args: str | Path) -> None:
        result = subprocess.run(
            [*prefix, *map(str, args)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr

    run(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    run(
        bin_dir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60",
        "-o", f"-p {port} -h 127.0.0.1 -k {root} -F", "start",
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def assert_recorded_once(url: str, study_name: str, finished: int) -> list[float]:
    """Exactly ``finished`` COMPLETE trials, each row and value once; their values."""
    engine_url, options = _engine_url(url)
    engine = sqlalchemy.create_engine(engine_url, **options)
    with engine.connect() as db:
        study_id = db.execute(
            sqlalchemy.text("SELECT study_id FROM studies WHERE study_name = :n"),
            {"n": study_name},
        ).scalar_one()
        rows, numbers = db.execute(
            sqlalchemy.text(
                "SELECT count(*), count(DISTINCT number) FROM trials WHERE study_id = :s"
            ),
            {"s": study_id},
        ).one()
        assert rows == numbers  # no trial number twice
        twice = db.execute(
            sqlalchemy.text(
                "SELECT v.trial_id FROM trial_values v JOIN trials t USING (trial_id) "
                "WHERE t.study_id = :s GROUP BY v.trial_id HAVING count(*) > 1"
            ),
            {"s": study_id},
        ).all()
        assert twice == []
    engine.dispose()
    study = optuna.load_study(study_name=study_name, storage=engine_url)
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == finished
    assert all(t.value is not None for t in complete)
    values = [float(t.value) for t in complete if t.value is not None]
    assert study.best_value == max(values)
    assert study.best_trial.state == TrialState.COMPLETE
    return values


# ----------------------------------------------------------------------------- synthetic candles
T0 = pd.Timestamp("2025-01-01", tz="UTC")
DAYS = 215  # 180 days of training, a purge, one 30-day outer fold
EMPTY = pd.DataFrame(columns=["date", "open", "high", "low", "close", "volume"])


def _ohlc(detail: pd.DataFrame, rule: str) -> pd.DataFrame:
    agg = detail.set_index("date").resample(rule, label="left", closed="left")
    out = agg.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    return out.reset_index()


def _bundle(pair: str, seed: int, *, corrupt_from: pd.Timestamp | None = None) -> CandleBundle:
    """A 15m random walk (2-decimal prices) and its 1h and 4h candles. ``corrupt_from``:
    every candle from then on is replaced by another walk (same tick)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(T0, T0 + pd.Timedelta(days=DAYS), freq="15min", inclusive="left")
    steps = rng.normal(0, 0.004, len(dates))
    if corrupt_from is not None:
        later = np.asarray(dates >= corrupt_from)
        steps[later] = np.random.default_rng(seed + 99).normal(0.001, 0.01, later.sum())
    close = np.round(100 * np.exp(np.cumsum(steps)), 2)
    open_ = np.round(np.concatenate(([100.0], close[:-1])), 2)
    wiggle = np.abs(rng.normal(0, 0.002, len(dates)))
    high = np.round(np.maximum(open_, close) * (1 + wiggle), 2)
    low = np.round(np.minimum(open_, close) * (1 - wiggle), 2)
    detail = pd.DataFrame(
        {"date": dates, "open": open_, "high": high, "low": low, "close": close, "volume": 10.0}
    )
    return CandleBundle(pair, _ohlc(detail, "1h"), _ohlc(detail, "4h"), EMPTY, detail, EMPTY)


def research_data(corrupt_from: pd.Timestamp | None = None) -> nested.ResearchData:
    settings = load_config({"metalabel": {"costs": {"include_funding": False}}})
    bundles = (
        _bundle("AAA/USDT:USDT", 1, corrupt_from=corrupt_from),
        _bundle("BBB/USDT:USDT", 2, corrupt_from=corrupt_from),
    )
    return nested.ResearchData(bundles, settings, max_open_trades=3)


def research_fold_of() -> Fold:
    space = nested.research_space()
    start = T0 + pd.Timedelta(days=DAYS - 31)
    folds = nested.outer_folds(
        start,
        start + pd.Timedelta(days=30),
        purge=nested.purge_candles(space, research_data().base),
    )
    assert len(folds) == 1
    return folds[0]
