"""The meta-model's inputs: which columns, in which form, under FreqAI's ``%`` prefix.

One list shared by the FreqAI strategy hook and by ``metalabel tune``, so tuning sees
exactly the features the bot trains on.
"""

from __future__ import annotations

import pandas as pd

# The package's features, the primary signal and the regime scores.
MODEL_FEATURES: tuple[str, ...] = (
    "rsi", "macd_hist", "stoch_k", "stoch_d", "atr_ratio", "bb_width", "adx", "obv_change",
    "volume_ratio", "momentum", "hour", "weekday", "volatility_regime", "funding_rate",
    "funding_rate_change_8h", "funding_rate_trend", "vote_score", "primary_direction",
    "primary_strength", "adx_score", "atr_ratio_score",
)  # fmt: skip
# Level indicators enter relative to the close, so the model sees scale-free inputs.
RELATIVE_TO_CLOSE: tuple[str, ...] = (
    "ema_fast", "ema_slow", "ema_trend", "bb_upper", "bb_lower", "atr",
)  # fmt: skip


def model_feature_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``%``-prefixed feature columns FreqAI trains on, from a frame with signals.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({c: [1.0] for c in MODEL_FEATURES + RELATIVE_TO_CLOSE})
    >>> frame["close"] = 2.0
    >>> model_feature_columns(frame)["%-atr_to_close"].tolist()
    [-0.5]
    """
    features = {f"%-{c}": frame[c].astype("float64") for c in MODEL_FEATURES}
    for column in RELATIVE_TO_CLOSE:
        features[f"%-{column}_to_close"] = frame[column] / frame["close"] - 1
    return pd.DataFrame(features, index=frame.index)
