"""The research space: bounds refused at start by name, every sample a valid config."""

import dataclasses

import optuna
import pytest

from metalabel.config import ConfigError, load_config
from metalabel.evaluation.research.space import (
    SPACE,
    XGBOOST,
    check_space,
    settings_at,
    space_digest,
    suggest,
    with_bounds,
)

BASE = load_config({})


def test_the_shipped_table_passes_its_own_check() -> None:
    check_space(SPACE, BASE)


@pytest.mark.parametrize(
    ("bounds", "named"),
    [
        ({"stop_loss_ratio": (0.005, 0.9)}, "stop_loss_ratio"),  # above the config's 0.5
        ({"confidence_threshold": (0.3, 0.8)}, "confidence_threshold"),  # model gate >= 0.5
        ({"max_depth": (0, 8)}, "max_depth"),  # XGBoost's own range
        ({"learning_rate": (0.01, 1.5)}, "learning_rate"),
        ({"adx_threshold": (30.0, 20.0)}, "adx_threshold"),  # low above high
        # take-profit = stop x ratio: a ratio below 1 gives tp < stop at a corner
        ({"reward_risk_ratio": (0.5, 3.0)}, "reward_risk_ratio"),
        # 6.0 x 0.4 = 2.4: the product leaves take_profit_ratio's (0, 2]
        ({"stop_loss_ratio": (0.005, 0.4)}, "reward_risk_ratio"),
        ({"rsi_oversold": (10, 60)}, "rsi_oversold"),  # overlaps rsi_overbought's 55..90
        ({"trailing_distance_ratio": (0.002, 0.06)}, "trailing_distance_ratio"),  # >= 10 x stop
        # all three weights at 0 at one corner: no vote at all
        (
            {n: (0.0, 1.0) for n in ("ema_vote_weight", "rsi_vote_weight", "macd_vote_weight")},
            "ema_vote_weight",
        ),
    ],
)
def test_a_bound_out_of_range_is_refused_naming_the_parameter(
    bounds: dict[str, tuple[float, float]], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        check_space(with_bounds(SPACE, bounds), BASE)


def test_the_stop_is_checked_against_the_base_leverage() -> None:
    # at leverage 3 liquidation is 0.328 away: a stop of 0.4 would never fire
    base = load_config({"metalabel": {"risk": {"leverage": 3}}})
    wide = with_bounds(SPACE, {"stop_loss_ratio": (0.005, 0.33), "reward_risk_ratio": (1.2, 2)})
    check_space(wide, load_config({}))
    with pytest.raises(ConfigError, match="liquidation"):
        check_space(wide, base)


def test_unknown_or_switch_bounds_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown parameter 'stop_ratio'"):
        with_bounds(SPACE, {"stop_ratio": (0.01, 0.02)})
    with pytest.raises(ConfigError, match="trailing_enabled is on/off"):
        with_bounds(SPACE, {"trailing_enabled": (0, 1)})


def test_every_sample_is_a_valid_config_within_its_bounds() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen_switches = set()
    for _ in range(300):
        trial = study.ask()
        candidate = suggest(trial, BASE)  # raises if any rule failed
        exits = candidate.settings.exits
        assert exits.stop_loss_ratio < exits.take_profit_ratio
        candidate.settings.validate()
        for name, knob in SPACE.items():
            if knob.kind == "bool":
                seen_switches.add((name, trial.params[name]))
                continue
            assert knob.low <= trial.params[name] <= knob.high, name
            if knob.times is not None:
                continue  # a product: checked above (stop < take-profit)
            if knob.section == XGBOOST:
                value = candidate.model_params[knob.key]
            else:
                value = getattr(getattr(candidate.settings, knob.section), knob.key)
            assert value == pytest.approx(trial.params[name], abs=10.0**-knob.decimals), name
        study.tell(trial, 0.0)
    assert len(seen_switches) == 2 * sum(k.kind == "bool" for k in SPACE.values())


def test_take_profit_is_the_stop_times_the_ratio() -> None:
    candidate = settings_at(BASE, SPACE, {"stop_loss_ratio": 0.013, "reward_risk_ratio": 3.1})
    assert candidate.settings.exits.take_profit_ratio == 0.0403


def test_the_same_seed_samples_the_same_candidates() -> None:
    def run() -> list[dict[str, object]]:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=7))
        out = []
        for i in range(15):
            trial = study.ask()
            suggest(trial, BASE)
            out.append(trial.params)
            study.tell(trial, float(i % 4))
        return out

    assert run() == run()


def test_the_digest_follows_the_bounds() -> None:
    assert space_digest(SPACE) == space_digest(dict(SPACE))
    assert space_digest(SPACE) != space_digest(with_bounds(SPACE, {"max_depth": (2, 9)}))
    moved = dict(SPACE, max_depth=dataclasses.replace(SPACE["max_depth"], log=True))
    assert space_digest(SPACE) != space_digest(moved)
