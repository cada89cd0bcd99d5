"""The FreqAI plugin trained on a short real slice through the replay exchange."""

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from freqtrade.configuration import Configuration
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import RunMode
from freqtrade.freqai.data_kitchen import FreqaiDataKitchen
from freqtrade.resolvers import ExchangeResolver, StrategyResolver
from freqtrade.resolvers.freqaimodel_resolver import FreqaiModelResolver

from metalabel.model.lifecycle import LIFECYCLE_LOG, LifecycleLog
from metalabel.ops.replay import ReplayServer
from metalabel.ops.runner import BUNDLED_DATA, MAIN_CONFIG, USER_DATA
from tests.conftest import BacktestRunner
from tests.conftest import strategy_config as _config

PAIR = "BTC/USDT:USDT"


def test_a_window_trains_on_signal_rows_and_leaves_loadable_artifacts(
    backtest: BacktestRunner,
) -> None:
    _output, _trades, userdir = backtest("20250101-20250201")
    folders = sorted((userdir / "models" / "metalabel-backtest").glob("sub-train-*"))
    assert {f.name.split("_")[0] for f in folders} == {"sub-train-BTC", "sub-train-ETH"}
    for folder in folders:
        meta = json.loads((folder / "metalabel_metadata.json").read_text())
        window = meta["training_window"]
        counts = meta["label_counts"]
        # string classes only, and only labelled signal rows: a few hundred of the
        # ~4,300 hourly candles of a 180-day window
        assert set(counts) == {"skip", "take"}
        assert sum(counts.values()) == window["fit_rows"] + window["holdout_rows"]
        assert 50 < sum(counts.values()) < 2000
        assert sum(meta["barrier_counts"].values()) == sum(counts.values())
        assert window["holdout_start"] > window["start"]
        holdout = meta["holdout"]
        for key in ("auc", "brier", "precision_at_threshold", "recall_at_threshold"):
            assert key in holdout
        for key in ("sharpe", "profit_factor", "max_drawdown", "win_rate"):
            assert key in holdout["filtered_trades"]
        assert meta["features"] == list(meta["feature_importance"])
        assert (folder / "metalabel_training_report.html").stat().st_size > 1000
        # the model FreqAI saved is ours, loads, and predicts string classes
        model_file = next(folder.glob("*_model.joblib"))
        with model_file.open("rb") as handle:
            model = pickle.load(handle)
        assert list(model.classes_) == ["skip", "take"]
        proba = model.predict_proba(np.zeros((3, len(meta["features"]))))
        assert proba.shape == (3, 2)


def test_a_window_without_enough_events_trades_nothing(backtest: BacktestRunner) -> None:
    strict = {"metalabel": {"model": {"min_training_events": 1_000_000}}}
    output, trades, _ = backtest("20250101-20250201", overlays=(strict,))
    flat = " ".join(output.split())
    assert "not trained" in flat and "no trades until the next retrain" in flat
    assert len(trades) == 0


def _loaded_plugin(userdir: Path) -> tuple[Any, Any, list[str]]:
    """The real plugin with a model trained by a backtest loaded the way FreqAI does."""
    overlay = userdir / "identifier.json"
    overlay.write_text(json.dumps({"freqai": {"identifier": "metalabel-backtest"}}))
    args = {
        "config": [str(MAIN_CONFIG), str(overlay)],
        "user_data_dir": str(userdir),
        "datadir": str(BUNDLED_DATA.parent),
        "freqaimodel_path": str(USER_DATA / "freqaimodels"),
        "freqaimodel": "MetaLabelClassifier",
        "timerange": "20250101-20250201",
    }
    config = Configuration(args, RunMode.BACKTEST).get_config()
    plugin = FreqaiModelResolver.load_freqaimodel(config)
    folder = sorted((userdir / "models" / "metalabel-backtest").glob("sub-train-BTC_*"))[0]
    kitchen = FreqaiDataKitchen(config, live=False, pair=PAIR)
    kitchen.data_path = folder
    kitchen.model_filename = folder.name.replace("sub-train-BTC", "cb_btc")
    plugin.dd.pair_dict[PAIR] = {
        "model_filename": kitchen.model_filename,
        "data_path": str(folder),
        "trained_timestamp": 0,
    }
    plugin.model = plugin.dd.load_data(PAIR, kitchen)
    return plugin, kitchen, list(kitchen.training_features_list)


def test_prediction_failures_mean_no_trades_not_a_crash(backtest: BacktestRunner) -> None:
    _output, _trades, userdir = backtest("20250101-20250201")
    plugin, kitchen, features = _loaded_plugin(userdir)
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(4, len(features))), columns=features)

    predictions, do_predict = plugin.predict(rows.copy(), kitchen)
    assert do_predict.tolist() == [1, 1, 1, 1]
    assert ((predictions["take"] > 0) & (predictions["take"] < 1)).all()

    # a feature missing at predict time: neutral, no exception out of the model
    missing, do_predict = plugin.predict(rows.drop(columns=[features[0]]), kitchen)
    assert do_predict.tolist() == [0, 0, 0, 0]
    assert (missing["take"] == 0).all() and (missing["&-label"] == "skip").all()


def test_an_unreadable_model_fails_at_load(backtest: BacktestRunner) -> None:
    _output, _trades, userdir = backtest("20250101-20250201")
    folder = sorted((userdir / "models" / "metalabel-backtest").glob("sub-train-BTC_*"))[0]
    next(folder.glob("*_model.joblib")).write_bytes(b"not a model")
    with pytest.raises(pickle.UnpicklingError):  # FreqAI raises: the strategy must absorb it
        _loaded_plugin(userdir)


def test_the_strategy_turns_a_failing_model_into_no_model_trades(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real FreqAI failure (here: asked to predict without its backtest setup) inside
    populate_indicators means do_predict 0 and confidence 0, logged once per pair."""
    with ReplayServer(BUNDLED_DATA) as replay:
        overrides = {"metalabel": {"mode": "meta"}, "freqai": {"identifier": "broken"}}
        config = _config(replay.url, overrides, tmp_path)
        config.update(
            timerange="20250101-20250201",
            freqaimodel="MetaLabelClassifier",
            freqaimodel_path=str(USER_DATA / "freqaimodels"),
        )
        strategy = StrategyResolver.load_strategy(config)
        exchange = ExchangeResolver.load_exchange(config, validate=False, load_leverage_tiers=False)
        strategy.dp = DataProvider(config, exchange)
        strategy.ft_bot_start()
        candles = pd.read_feather(BUNDLED_DATA / "BTC_USDT_USDT-1h-futures.feather").tail(50)
        for _ in range(2):
            out = strategy._predict(candles.reset_index(drop=True), {"pair": PAIR})
            assert (out["do_predict"] == 0).all() and (out["meta_confidence"] == 0).all()
    assert sum("Meta-model unavailable" in r.message for r in caplog.records) == 1


def test_rollback_puts_the_previous_promoted_model_back(backtest: BacktestRunner) -> None:
    _output, _trades, userdir = backtest("20250101-20250301")
    plugin, _kitchen, features = _loaded_plugin(userdir)
    folders = sorted((userdir / "models" / "metalabel-backtest").glob("sub-train-BTC_*"))
    log = LifecycleLog(userdir / "models" / "metalabel-backtest" / LIFECYCLE_LOG)
    log.path.unlink(missing_ok=True)
    for version, folder in enumerate(folders, 1):  # two promotions: v1 then v2
        log.append(
            {
                "time": "2025-01-01T00:00:00+00:00",
                "pair": PAIR,
                "decision": "promote",
                "candidate_version": version,
                "active_version": version,
                "model_path": str(folder),
            }
        )
    assert plugin.rollback(PAIR, ["live Sharpe collapsed"])
    with next(folders[0].glob("*_model.joblib")).open("rb") as handle:
        first = pickle.load(handle)
    rows = np.random.default_rng(1).normal(size=(5, len(features)))
    np.testing.assert_array_equal(
        plugin.dd.model_dictionary[PAIR].predict_proba(rows), first.predict_proba(rows)
    )
    assert log.read()[-1]["decision"] == "rollback"
    assert log.read()[-1]["active_version"] == 1
    # nothing older than v1: a second rollback is refused, the model stays
    assert not plugin.rollback(PAIR, ["again"])
