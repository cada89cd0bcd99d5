"""The research report's config overlay: written beside, never over, a base config."""

import json
from pathlib import Path

import pytest

from metalabel.evaluation.research.report import OverlayRefusedError, write_config_overlay

OVERLAY = {"metalabel": {"mode": "primary_regime", "exits": {"stop_loss_ratio": 0.012}}}


def test_overlay_refuses_any_config_json(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    target.write_text("{}")
    with pytest.raises(OverlayRefusedError, match="refusing to write a base config"):
        write_config_overlay(target, OVERLAY)
    assert target.read_text() == "{}"


def test_overlay_refuses_the_base_config_under_another_name(tmp_path: Path) -> None:
    base = tmp_path / "main.json"
    base.write_text("{}")
    with pytest.raises(OverlayRefusedError):
        write_config_overlay(tmp_path / "." / "main.json", OVERLAY, protected=[base])
    assert base.read_text() == "{}"


def test_overlay_is_written_to_a_separate_file(tmp_path: Path) -> None:
    written = write_config_overlay(tmp_path / "sub" / "config.research.json", OVERLAY)
    assert json.loads(written.read_text()) == OVERLAY
