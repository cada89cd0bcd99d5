"""FreqUI: the offline install, and the UI in a real browser against a dry-run bot.

The browser test drives Debian's ``chromium`` with playwright (no browser download) and
skips, saying why, where the FreqUI build beside the clone or chromium is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from metalabel.ops.dryrun import DryRunSession, dryrun_session
from metalabel.ops.frequi import FREQUI_BUILD, InstallOutcome, build_version, install_ui
from metalabel.ops.health import ENV_PASSWORD, ENV_URL, ENV_USERNAME, BotClient, read_env_file
from metalabel.ops.runner import PROJECT_ROOT
from tests.conftest import wait_for

PAIR = "BTC/USDT:USDT"
REPORTS = PROJECT_ROOT / "reports"
WAIT_SECONDS = 60.0
# The strategy's plot panes and series of each whose plot_config colour no other series
# or candle uses. The chart is a canvas, so a pane is "shown" when one of its series'
# colours is drawn, below the pane above it.
PANE_SERIES = {
    "main_plot": ("ema_fast", "ema_slow"),
    "primary": ("primary_strength",),
    "regime": ("adx",),
    # on a fresh bot both are 0 before the first live prediction: one hides the other
    "meta": ("meta_confidence", "do_predict"),
}


def _chromium() -> str | None:
    return shutil.which("chromium")


def _write_build(folder: Path, marker: str) -> Path:
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text(f"<html>{marker}</html>")
    (folder / "assets" / "app.js").write_text("console.log(1)")
    return folder


def test_install_copies_the_build_once_and_replaces_a_changed_one(tmp_path: Path) -> None:
    source = _write_build(tmp_path / "dist", "v1")
    (source / "assets" / "app.js").chmod(0o444)  # the shared build is read-only
    destination = tmp_path / "installed"
    (destination / "stale").mkdir(parents=True)
    (destination / "stale" / "old.js").write_text("old")

    first = install_ui(source, destination)
    assert first.outcome is InstallOutcome.INSTALLED
    assert (destination / "index.html").read_text() == "<html>v1</html>"
    assert not (destination / "stale").exists()  # what install-ui would leave is cleaned
    assert (destination / ".uiversion").read_text() == build_version(source) == first.version
    assert install_ui(source, destination).outcome is InstallOutcome.UP_TO_DATE

    (source / "index.html").write_text("<html>v2</html>")
    second = install_ui(source, destination)
    assert second.outcome is InstallOutcome.INSTALLED
    assert second.version != first.version
    assert (destination / "index.html").read_text() == "<html>v2</html>"


def test_missing_build_is_skipped_and_a_broken_one_refused(tmp_path: Path) -> None:
    result = install_ui(tmp_path / "absent", tmp_path / "installed")
    assert result.outcome is InstallOutcome.NO_BUILD
    assert "skipped" in result.line()
    assert not (tmp_path / "installed").exists()
    (tmp_path / "broken").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no index\.html"):
        install_ui(tmp_path / "broken", tmp_path / "installed")


def _wait_for(what: str, probe: Callable[[], Any], timeout_s: float = WAIT_SECONDS) -> Any:
    return wait_for(what, probe, timeout_s)


@pytest.fixture(scope="module")
def chromium() -> str:
    if not (FREQUI_BUILD / "index.html").is_file():
        pytest.skip(f"no FreqUI build at {FREQUI_BUILD} (freqtrade install-ui needs the internet)")
    path = _chromium()
    if path is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    install_ui()  # what `make` does at set-up; idempotent
    return path


@pytest.fixture(scope="module")
def bot(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DryRunSession]:
    workdir = tmp_path_factory.mktemp("frequi")
    with (
        (workdir / "freqtrade.log").open("wb") as log,
        dryrun_session(
            mode="meta",  # the meta pane needs FreqAI
            env_file=workdir / "dryrun.env",
            workdir=workdir,
            output=log.fileno(),
            startup_timeout_seconds=180,
        ) as running,
    ):
        yield running


def _login(page: Page, env: dict[str, str]) -> None:
    """FreqUI's login form; its inputs have no names: bot name, API URL, user, password."""
    url = env[ENV_URL]
    page.goto(f"{url}/login")
    inputs = page.locator("form input")
    for index, value in enumerate(("metalabel", url, env[ENV_USERNAME], env[ENV_PASSWORD])):
        inputs.nth(index).fill(value)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(f"{url}/")


def _rows_drawn_in(image: Image.Image, colours: list[str], top: int) -> np.ndarray:
    """Row indices (below ``top``) of the pixels drawn in any of ``colours``."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    close = np.zeros(pixels.shape[:2], dtype=bool)
    for colour in colours:
        target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
        close |= (np.abs(pixels - target) <= 8).all(axis=2)  # anti-aliasing tolerance
    close[:top] = False  # the legend repeats every colour at the top
    return np.nonzero(close)[0]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_frequi_shows_the_strategy_chart_and_the_trades(bot: DryRunSession, chromium: str) -> None:
    assert bot.env_file is not None
    env = read_env_file(bot.env_file)  # the credentials a person would use
    url = env[ENV_URL]
    version = requests.get(f"{url}/ui_version", timeout=10).json()["version"]
    assert version == build_version(FREQUI_BUILD)

    api = BotClient(bot.credentials, timeout_seconds=10)
    _wait_for(
        "the first analysed candles",
        lambda: api.get("pair_candles", pair=PAIR, timeframe="1h", limit=1)["length"],
        timeout_s=120,
    )
    strategy_plot = api.get("plot_config")
    # meta mode refuses even forced entries until the model's first live prediction
    # (confidence 0 sizes to 0), so a fresh bot's lists are empty
    assert api.get("status") == []
    assert api.get("trades")["trades"] == []
    api.close()

    REPORTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _login(page, env)

        # chart: the Plot Configurator's "From strategy" loads plot_config; save, close
        page.goto(f"{url}/graph")
        page.get_by_title("Plot configurator").click()
        page.get_by_role("button", name="From strategy").click()
        page.get_by_role("button", name="Save").click()
        page.get_by_role("dialog").get_by_role("button", name="Close").click()
        stored = page.evaluate(
            "() => document.querySelector('#app').__vue_app__.config.globalProperties"
            ".$pinia.state.value.plotConfig.customPlotConfigs.default"
        )
        assert stored["main_plot"] == strategy_plot["main_plot"]
        assert stored["subplots"] == strategy_plot["subplots"]
        chart = page.locator(".echarts-host canvas").first
        chart.wait_for()
        page.wait_for_timeout(1500)  # the canvas animates the series in
        page.screenshot(path=REPORTS / "frequi_chart.png")
        chart.screenshot(path=REPORTS / "frequi_chart_canvas.png")

        # trade view: the open- and closed-trade lists load and agree with the API
        page.get_by_role("link", name="Trade", exact=True).click()
        page.get_by_text(PAIR).first.wait_for()  # the pair list has loaded
        tables = page.locator("table")
        _wait_for("FreqUI's two trade lists", lambda: tables.count() == 2)
        open_trades, closed_trades = tables.nth(0).inner_text(), tables.nth(1).inner_text()
        assert "Current profit" in open_trades and "Currently no open trades." in open_trades
        assert "Close Reason" in closed_trades and "No closed trades so far." in closed_trades
        page.screenshot(path=REPORTS / "frequi_trades.png")
        browser.close()

    canvas = Image.open(REPORTS / "frequi_chart_canvas.png")
    plots = {"main_plot": strategy_plot["main_plot"], **strategy_plot["subplots"]}
    middle_row: dict[str, float] = {}
    for pane, columns in PANE_SERIES.items():
        colours = [plots[pane][column]["color"] for column in columns]
        rows = _rows_drawn_in(canvas, colours, top=int(canvas.height * 0.1))
        assert len(rows) >= 20, f"{pane} pane: no {'/'.join(columns)} line {colours} drawn"
        middle_row[pane] = float(np.median(rows))
    # the panes are stacked in plot_config's order: main chart, primary, regime, meta
    assert list(middle_row) == sorted(middle_row, key=middle_row.__getitem__), middle_row
