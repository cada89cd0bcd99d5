"""Indicators and model features for one pair's candles, from trailing windows only.

The value on row ``i`` depends on rows ``0..i`` alone: TA-Lib's indicators are recursive
or trailing, pandas windows are trailing (never centred), nothing is shifted backwards
and nothing is normalised over the whole series. ``tests/core/test_no_lookahead.py`` checks
this by recomputing on many prefixes of real data.

Bad candles are taken out before the indicators run and get NaN features (see
:func:`candle_faults` for the rules: missing or non-positive prices, no volume -- freqtrade
fills missing candles with zero-volume rows --, a high or low that does not enclose the
open and close, or a range absurdly wide for the recent past). ``add_features`` marks
them ``candle_ok = False`` so the strategy refuses entries there, and since they never
reach the indicators a corrupt high cannot pose as volatility (no HIGH_VOLATILITY
regime from it). The indicators continue across bad rows as if those rows were absent,
because one NaN fed to a recursive indicator (EMA, RSI, ATR, ADX, MACD, OBV) would blank
every later value:

>>> import pandas as pd
>>> close = pd.Series([1.0, 2.0, 3.0, 99.0, 4.0])
>>> valid = pd.Series([True, True, True, False, True])  # row 3 had volume 0
>>> _on_valid_rows(close, valid, lambda c: c.rolling(2).mean()).tolist()
[nan, 1.5, 2.5, nan, 3.5]

Windows therefore count good candles, not wall-clock hours. The frame is assumed to be
one pair at one timeframe, sorted by date; an unfilled gap (missing rows) is not
detected here -- freqtrade fills gaps before the strategy sees the frame.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import talib

from metalabel.config import RegimeSettings, SignalSettings

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# Fixed indicator windows (not tuned, so not in the config block).
BB_CANDLES = 20
BB_STD = 2.0
STOCH_FASTK_CANDLES = 14
STOCH_SLOWK_CANDLES = 3
STOCH_SLOWD_CANDLES = 3
VOLUME_MEAN_CANDLES = 24
OBV_CHANGE_CANDLES = 24
VOLATILITY_WINDOW_CANDLES = 720  # 30 days of 1h candles
LOW_VOLATILITY_QUANTILE = 0.33
HIGH_VOLATILITY_QUANTILE = 0.67
# Candle sanity. A candle's true range above RANGE_OUTLIER_MULTIPLE x the median true
# range of the last RANGE_REFERENCE_CANDLES good candles is a bad print, not a market
# move. The largest genuine ratio in the bundled Bybit data (BTC and ETH, 1h and 4h,
# 2023-11 to 2026-07) is 24.4, the 2025-10-10 liquidation cascade; 50 leaves twice that
# before a real candle is refused, while a corrupt high (2x the price, 1e308) lands in
# the hundreds or beyond. A median, not a mean like ATR's, so that the bad print it is
# meant to catch cannot inflate its own yardstick (a 1e308 high would lift a 14-candle
# ATR to ~1e307 and wave every following corrupt candle through).
RANGE_OUTLIER_MULTIPLE = 50.0
RANGE_REFERENCE_CANDLES = 48  # two days of 1h candles
# Funding settles every 8h; a rate older than three intervals means the feed stalled.
MAX_FUNDING_AGE = pd.Timedelta(hours=24)

FEATURE_COLUMNS: tuple[str, ...] = (
    "sma_fast", "sma_slow", "sma_trend", "ema_fast", "ema_slow", "ema_trend",
    "rsi", "macd", "macd_signal", "macd_hist", "stoch_k", "stoch_d",
    "atr", "atr_mean", "atr_ratio", "bb_upper", "bb_middle", "bb_lower", "bb_width",
    "adx", "obv_change", "volume_ratio", "momentum", "volatility_regime",
    "hour", "weekday",
)  # fmt: skip
FUNDING_COLUMNS: tuple[str, ...] = ("funding_rate", "funding_rate_change_8h", "funding_rate_trend")

_missing_funding_warned = False
# (pair, timeframe) -> dates of bad candles already logged, so a bad candle that stays in
# the live frame for a thousand calls is reported once.
_reported_bad_candles: dict[tuple[str, str], set[pd.Timestamp]] = {}


def _arr(series: pd.Series) -> FloatArray:
    """A contiguous float64 copy, the only input TA-Lib accepts."""
    return np.ascontiguousarray(series.to_numpy(dtype=np.float64, na_value=np.nan))


def safe_divide(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``numerator / denominator`` with NaN instead of inf where the denominator is 0."""
    return numerator / denominator.where(denominator != 0)


def _range_outliers(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    eligible: npt.NDArray[np.bool_],
    *,
    multiple: float,
    window: int,
) -> npt.NDArray[np.bool_]:
    """True where a candle's true range exceeds ``multiple`` x the median true range of
    the previous ``window`` accepted candles.

    The true range is ATR's: high - low widened to the last accepted close, so a whole
    candle printed at a wrong level (a gap, however narrow its own range) is caught too.
    Past candles only, and only accepted ones, for the reference and for the close: a
    refused candle never enters them, so a run of corrupt candles cannot raise the bar
    for the next one, and every candle that reaches ATR has a true range within the
    bound. With no past candle yet, or a median of 0 (flat candles), the range cannot be
    judged and passes. The price of that rule: a genuine jump beyond the bound would
    refuse every later candle of the frame (fail closed, logged). The loop is sequential
    by nature (each decision feeds the next reference); a sorted window keeps it to
    O(window) per candle.

    >>> high = np.array([11.0, 11.2, 10.8, 70.0, 11.0, 11.1])
    >>> low, close = np.full(6, 10.0), np.full(6, 10.5)
    >>> _range_outliers(high, low, close, np.ones(6, bool), multiple=50.0, window=3).tolist()
    [False, False, False, True, False, False]
    """
    refused = np.zeros(len(high), dtype=bool)
    recent: deque[float] = deque()
    ordered: list[float] = []
    last_close = math.nan  # comparisons with NaN are False: no gap before the first candle
    highs, lows, closes = high.tolist(), low.tolist(), close.tolist()
    for i in np.flatnonzero(eligible).tolist():
        top = last_close if last_close > highs[i] else highs[i]
        bottom = last_close if last_close < lows[i] else lows[i]
        true_range = top - bottom
        size = len(ordered)
        if size:
            median = (ordered[(size - 1) // 2] + ordered[size // 2]) / 2
            if median > 0 and true_range > multiple * median:
                refused[i] = True
                continue
        last_close = closes[i]
        recent.append(true_range)
        insort(ordered, true_range)
        if len(recent) > window:
            del ordered[bisect_left(ordered, recent.popleft())]
    return refused


def candle_faults(
    df: pd.DataFrame,
    *,
    range_multiple: float = RANGE_OUTLIER_MULTIPLE,
    range_window_candles: int = RANGE_REFERENCE_CANDLES,
) -> pd.Series:
    """Why each candle is unusable, or ``""`` when it is fine; the first failing rule names it.

    Rules, in order: ``missing`` (a price or the volume is NaN or infinite),
    ``non_positive_price``, ``no_volume`` (volume <= 0: freqtrade's filler for a missing
    candle), ``high_below_body`` (high < max(open, close); a high below the low always
    lands here or in the next rule), ``low_above_body`` (low > min(open, close)), and
    ``range_outlier`` (see :func:`_range_outliers`; judged only among candles passing
    the other rules). Row ``i`` depends on rows ``0..i`` only.

    >>> df = pd.DataFrame({"open": [10.0, 10, 10], "high": [11.0, 9, 11],
    ...                    "low": [9.0, 8, 9], "close": [10.0, 10, 0], "volume": [1.0, 1, 1]})
    >>> candle_faults(df).tolist()
    ['', 'high_below_body', 'non_positive_price']
    """
    values = df[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
    o, h, low, c, v = values.T
    with np.errstate(invalid="ignore"):
        rules: list[tuple[str, npt.NDArray[np.bool_]]] = [
            ("missing", ~np.isfinite(values).all(axis=1)),
            ("non_positive_price", (values[:, :4] <= 0).any(axis=1)),
            ("no_volume", v <= 0),
            ("high_below_body", h < np.maximum(o, c)),
            ("low_above_body", low > np.minimum(o, c)),
        ]
    faults = np.full(len(df), "", dtype=object)
    for name, broken in reversed(rules):  # the first rule in the list wins
        faults[broken] = name
    eligible = faults == ""
    outliers = _range_outliers(
        h, low, c, eligible, multiple=range_multiple, window=range_window_candles
    )
    faults[outliers] = "range_outlier"
    return pd.Series(faults, index=df.index, name="candle_fault")


def valid_candles(df: pd.DataFrame) -> pd.Series:
    """True where :func:`candle_faults` finds nothing wrong with the candle."""
    return (candle_faults(df) == "").rename("candle_ok")


def _timeframe_of(dates: pd.Series) -> str:
    """The frame's candle spacing as freqtrade writes it (``1h``, ``15m``), for log lines.

    >>> _timeframe_of(pd.Series(pd.date_range("2024-01-01", periods=3, freq="4h")))
    '4h'
    """
    step = dates.diff().median()
    if pd.isna(step) or step <= pd.Timedelta(0):
        return "?"
    minutes = int(step.total_seconds() // 60)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _log_new_bad_candles(df: pd.DataFrame, faults: pd.Series, pair: str | None) -> None:
    """One warning per pair and timeframe when bad candles not reported before appear."""
    bad = faults != ""
    if not bad.any() or "date" not in df.columns:
        return
    dates = pd.to_datetime(df["date"], utc=True)
    key = (pair or "unnamed pair", _timeframe_of(dates))
    seen = _reported_bad_candles.setdefault(key, set())
    new = bad & ~dates.isin(seen)
    if not new.any():
        return
    seen.update(dates[new])
    counts = faults[new].value_counts()
    why = ", ".join(f"{name} x{count}" for name, count in counts.items())
    logger.warning(
        "%s %s: %d invalid candle(s), first at %s (%s): NaN features, no entries "
        "(candle_ok False), not counted as volatility.",
        *key, int(new.sum()), dates[new].iloc[0], why,
    )  # fmt: skip


def _on_valid_rows(
    data: pd.Series | pd.DataFrame,
    valid: pd.Series,
    compute: Callable[[pd.Series | pd.DataFrame], pd.Series | pd.DataFrame],
) -> pd.Series | pd.DataFrame:
    """Run ``compute`` on the good rows only and put NaN back on the bad ones (by position)."""
    mask = valid.to_numpy(dtype=bool)
    result = compute(data.loc[mask])
    if isinstance(result, pd.Series):
        values = np.full(len(mask), np.nan)
        values[mask] = result.to_numpy(dtype=np.float64, na_value=np.nan)
        return pd.Series(values, index=data.index, name=result.name)
    table = np.full((len(mask), result.shape[1]), np.nan)
    table[mask] = result.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(table, index=data.index, columns=result.columns)


def moving_averages(close: pd.Series, signal: SignalSettings) -> pd.DataFrame:
    """SMA and EMA at the fast, slow and trend periods of the primary signal."""
    x = _arr(close)
    periods = {
        "fast": signal.ema_fast_period,
        "slow": signal.ema_slow_period,
        "trend": signal.ema_trend_period,
    }
    columns: dict[str, FloatArray] = {}
    for name, period in periods.items():
        columns[f"sma_{name}"] = talib.SMA(x, timeperiod=period)
    for name, period in periods.items():
        columns[f"ema_{name}"] = talib.EMA(x, timeperiod=period)
    return pd.DataFrame(columns, index=close.index)


def oscillators(candles: pd.DataFrame, signal: SignalSettings) -> pd.DataFrame:
    """RSI, MACD (line, signal, histogram) and the slow stochastic (14, 3, 3)."""
    high, low, close = _arr(candles["high"]), _arr(candles["low"]), _arr(candles["close"])
    macd, macd_signal, macd_hist = talib.MACD(
        close,
        fastperiod=signal.macd_fast_period,
        slowperiod=signal.macd_slow_period,
        signalperiod=signal.macd_signal_period,
    )
    # %K and %D are smoothed with TA-Lib's default, a simple moving average.
    stoch_k, stoch_d = talib.STOCH(
        high,
        low,
        close,
        fastk_period=STOCH_FASTK_CANDLES,
        slowk_period=STOCH_SLOWK_CANDLES,
        slowd_period=STOCH_SLOWD_CANDLES,
    )
    columns = {
        "rsi": talib.RSI(close, timeperiod=signal.rsi_period),
        "macd": macd,
        "macd_signal": macd_signal,
        "macd_hist": macd_hist,
        "stoch_k": stoch_k,
        "stoch_d": stoch_d,
    }
    return pd.DataFrame(columns, index=candles.index)


def volatility_regime(
    natr: pd.Series, window_candles: int = VOLATILITY_WINDOW_CANDLES
) -> pd.Series:
    """0 low / 1 medium / 2 high: where today's ATR/close sits in its trailing window.

    The 33rd and 67th percentiles come from the last ``window_candles`` values including
    the current one, so the level is relative to the recent past only. Strictly below
    the low percentile is 0, strictly above the high one is 2, anything else (ties, a
    flat window) is 1. NaN until the window is full.

    >>> volatility_regime(pd.Series([1.0, 2.0, 3.0, 0.5, 9.0]), 3).tolist()
    [nan, nan, 2.0, 0.0, 2.0]
    """
    rolling = natr.rolling(window_candles, min_periods=window_candles)
    low = rolling.quantile(LOW_VOLATILITY_QUANTILE)
    high = rolling.quantile(HIGH_VOLATILITY_QUANTILE)
    level = pd.Series(np.where(natr > high, 2.0, np.where(natr < low, 0.0, 1.0)), natr.index)
    return level.where(natr.notna() & low.notna() & high.notna())


def volatility_features(
    candles: pd.DataFrame, regime: RegimeSettings, *, window_candles: int
) -> pd.DataFrame:
    """ATR, its rolling mean and ratio, Bollinger bands (20, 2) and the volatility level."""
    high, low, close = _arr(candles["high"]), _arr(candles["low"]), _arr(candles["close"])
    atr = pd.Series(talib.ATR(high, low, close, timeperiod=regime.atr_period), candles.index)
    atr_mean = atr.rolling(regime.atr_mean_candles, min_periods=regime.atr_mean_candles).mean()
    # Bands around a simple moving average (TA-Lib's default matype).
    upper, middle, lower = talib.BBANDS(
        close, timeperiod=BB_CANDLES, nbdevup=BB_STD, nbdevdn=BB_STD
    )
    frame = pd.DataFrame(
        {"atr": atr, "atr_mean": atr_mean, "atr_ratio": safe_divide(atr, atr_mean)}
    )
    frame["bb_upper"], frame["bb_middle"], frame["bb_lower"] = upper, middle, lower
    frame["bb_width"] = safe_divide(frame["bb_upper"] - frame["bb_lower"], frame["bb_middle"])
    frame["volatility_regime"] = volatility_regime(
        safe_divide(atr, candles["close"]), window_candles
    )
    return frame


def momentum(close: pd.Series, candles: int) -> pd.Series:
    """Return over the last ``candles`` candles: ``close / close.shift(candles) - 1``."""
    return safe_divide(close, close.shift(candles)) - 1.0


def trend_strength(candles: pd.DataFrame, regime: RegimeSettings) -> pd.DataFrame:
    """ADX and momentum, the regime's trend inputs."""
    high, low, close = _arr(candles["high"]), _arr(candles["low"]), _arr(candles["close"])
    adx = talib.ADX(high, low, close, timeperiod=regime.adx_period)
    return pd.DataFrame(
        {"adx": adx, "momentum": momentum(candles["close"], regime.momentum_candles)},
        index=candles.index,
    )


def volume_features(candles: pd.DataFrame) -> pd.DataFrame:
    """OBV's normalised 24-candle change and volume over its 24-candle mean.

    ``obv_change`` is the OBV change over the window divided by the volume traded in it,
    i.e. the signed share of volume in [-1, 1]. A percent change of OBV itself would
    depend on where the loaded history starts (OBV is a running sum from the first
    candle, so backtest and live disagree) and blows up where OBV crosses zero. For the
    same reason the raw OBV level is not returned at all: freqtrade's recursive-analysis
    flags it (25 % apart between 800 and 999 startup candles on BTC).
    ``volume_ratio`` includes the current candle in its mean.
    """
    volume = candles["volume"]
    obv = pd.Series(talib.OBV(_arr(candles["close"]), _arr(volume)), index=candles.index)
    traded = volume.rolling(OBV_CHANGE_CANDLES, min_periods=OBV_CHANGE_CANDLES).sum()
    mean_volume = volume.rolling(VOLUME_MEAN_CANDLES, min_periods=VOLUME_MEAN_CANDLES).mean()
    return pd.DataFrame(
        {
            "obv_change": safe_divide(obv - obv.shift(OBV_CHANGE_CANDLES), traded),
            "volume_ratio": safe_divide(volume, mean_volume),
        }
    )


def time_features(dates: pd.Series) -> pd.DataFrame:
    """Hour of day (0-23) and weekday (Monday = 0) in UTC; defined on every row."""
    utc = pd.to_datetime(dates, utc=True)
    return pd.DataFrame({"hour": utc.dt.hour, "weekday": utc.dt.day_of_week}, index=dates.index)


def _indicators(
    candles: pd.DataFrame, signal: SignalSettings, regime: RegimeSettings, window_candles: int
) -> pd.DataFrame:
    """All price and volume indicators of a frame that holds good candles only."""
    parts = [
        moving_averages(candles["close"], signal),
        oscillators(candles, signal),
        volatility_features(candles, regime, window_candles=window_candles),
        trend_strength(candles, regime),
        volume_features(candles),
    ]
    return pd.concat(parts, axis=1)


def add_features(
    df: pd.DataFrame,
    signal: SignalSettings,
    regime: RegimeSettings,
    *,
    volatility_window_candles: int = VOLATILITY_WINDOW_CANDLES,
    pair: str | None = None,
) -> pd.DataFrame:
    """Return a copy of ``df`` with every column of :data:`FEATURE_COLUMNS` and ``candle_ok``.

    ``df`` holds ``date`` (UTC) and ``open, high, low, close, volume``. Rows with a bad
    candle (``candle_ok`` False, see :func:`candle_faults`), and rows before an
    indicator's warm-up is complete, get NaN (never raise): the slowest column,
    ``volatility_regime``, needs ``atr_period + window`` candles. ``pair`` only names
    the pair in the warning logged when bad candles are first seen.
    """
    faults = candle_faults(df)
    _log_new_bad_candles(df, faults, pair)
    valid = faults == ""
    indicators = _on_valid_rows(
        df, valid, lambda good: _indicators(good, signal, regime, volatility_window_candles)
    )
    out = df.copy()
    out[list(indicators.columns)] = indicators
    out[["hour", "weekday"]] = time_features(df["date"])
    out["candle_ok"] = valid.to_numpy(dtype=bool)
    return out


def _utc_ns(dates: pd.Series) -> npt.NDArray[np.datetime64]:
    """Dates as naive UTC ``datetime64[ns]``, whatever unit or zone they came in."""
    utc = pd.to_datetime(dates, utc=True).dt.tz_convert(None)
    ns: npt.NDArray[np.datetime64] = utc.to_numpy().astype("datetime64[ns]")
    return ns


def funding_rate_asof(
    dates: pd.Series, funding: pd.DataFrame, *, max_age: pd.Timedelta
) -> pd.Series:
    """The last funding rate dated at or before each candle date (a backward as-of join).

    ``funding`` is freqtrade's funding-rate candle frame: ``date`` and ``open`` = rate.
    A rate older than ``max_age`` counts as unknown (NaN), so a stalled funding feed is
    not carried forward for ever. Worked example, funding at 00:00 and 08:00::

        candle 07:00 -> the 00:00 rate   (08:00 not known yet)
        candle 08:00 -> the 08:00 rate   (a rate dated at the candle's open is known)
        candle before the first rate -> NaN
    """
    table = funding[["date", "open"]].assign(_ns=_utc_ns(funding["date"]))
    table = table.sort_values("_ns", kind="stable")
    known = table["_ns"].to_numpy()
    candle = _utc_ns(dates)
    idx = np.searchsorted(known, candle, side="right") - 1
    found = idx >= 0
    rates = np.where(found, table["open"].to_numpy(dtype=np.float64)[np.maximum(idx, 0)], np.nan)
    age = candle - known[np.maximum(idx, 0)]
    fresh = found & ~np.isnat(candle) & (age <= max_age.to_timedelta64())
    return pd.Series(np.where(fresh, rates, np.nan), index=dates.index, name="funding_rate")


def _warn_missing_funding_once() -> None:
    """Log the missing-funding fallback once per process, not on every candle."""
    global _missing_funding_warned
    if not _missing_funding_warned:
        _missing_funding_warned = True
        logger.warning("No funding-rate data: funding features are set to 0.0.")


def add_funding_features(
    df: pd.DataFrame,
    funding: pd.DataFrame | None,
    *,
    change_candles: int = 8,
    trend_candles: int = 72,
    trend_long_candles: int = 216,
    max_age: pd.Timedelta = MAX_FUNDING_AGE,
) -> pd.DataFrame:
    """Return a copy of ``df`` with the funding level, its change and its trend.

    - ``funding_rate``: last known rate (see :func:`funding_rate_asof`).
    - ``funding_rate_change_8h``: rate now minus rate ``change_candles`` candles ago
      (8 candles = 8h at 1h, one funding interval).
    - ``funding_rate_trend``: mean rate over the last ``trend_candles`` (3 days at 1h)
      minus the mean over the last ``trend_long_candles`` (9 days); > 0 = rising.

    Funding does not depend on the candle, so bad candles keep their funding values.
    Without funding data (None or empty) all three are 0.0 and one warning is logged
    per process: the strategy keeps trading, the model just sees no funding signal.
    """
    out = df.copy()
    if funding is None or funding.empty:
        _warn_missing_funding_once()
        out[list(FUNDING_COLUMNS)] = 0.0
        return out
    rate = funding_rate_asof(df["date"], funding, max_age=max_age)
    short = rate.rolling(trend_candles, min_periods=trend_candles).mean()
    long = rate.rolling(trend_long_candles, min_periods=trend_long_candles).mean()
    out["funding_rate"] = rate
    out["funding_rate_change_8h"] = rate - rate.shift(change_candles)
    out["funding_rate_trend"] = short - long
    return out
