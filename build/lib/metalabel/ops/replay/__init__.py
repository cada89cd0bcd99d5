"""Replay exchange: a local Bybit v5 public market API served from bundled real data."""

from metalabel.ops.replay.clock import Clock, HistoricalClock, LiveClock, make_clock
from metalabel.ops.replay.data import Candles, Funding, Instrument, aggregate, load_bundle
from metalabel.ops.replay.server import ReplayExchange, ReplayServer, serve_forever

__all__ = [
    "Candles",
    "Clock",
    "Funding",
    "HistoricalClock",
    "Instrument",
    "LiveClock",
    "ReplayExchange",
    "ReplayServer",
    "aggregate",
    "load_bundle",
    "make_clock",
    "serve_forever",
]
