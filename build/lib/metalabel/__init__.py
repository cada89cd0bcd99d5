"""metalabel: meta-labelled trend following for Bybit USDT perpetuals on freqtrade."""

__version__ = "0.1.0"
