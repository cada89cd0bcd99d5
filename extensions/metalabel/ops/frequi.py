"""FreqUI offline: install a pre-built FreqUI into freqtrade's UI folder.

``freqtrade install-ui`` downloads FreqUI from GitHub; machines without internet (CI
here) get the same build from ``<repo>/../shared/frequi/dist`` instead. freqtrade's API
server serves whatever sits in ``freqtrade/rpc/api_server/ui/installed/`` at its root
URL and reports the content of ``.uiversion`` there at ``/ui_version``.

The install is idempotent: ``.uiversion`` holds a fingerprint of the build's files, and
an install whose fingerprint matches copies nothing. Run it as
``python -m metalabel.ops.frequi`` (``make`` does, when it sets up the environment).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import freqtrade.rpc.api_server
from freqtrade.commands.deploy_ui import clean_ui_subdir, read_ui_version

from metalabel.ops.runner import PROJECT_ROOT

logger = logging.getLogger(__name__)

# Beside the clone on CI (read-only); the project never writes there.
FREQUI_BUILD = PROJECT_ROOT.parent / "shared" / "frequi" / "dist"
VERSION_PREFIX = "offline-"


class InstallOutcome(StrEnum):
    INSTALLED = "installed"
    UP_TO_DATE = "up to date"
    NO_BUILD = "no build"


@dataclass(frozen=True)
class InstallResult:
    outcome: InstallOutcome
    source: Path
    destination: Path
    version: str | None

    def line(self) -> str:
        """One line for the set-up log."""
        if self.outcome is InstallOutcome.NO_BUILD:
            return f"FreqUI: no build at {self.source}; skipped (the browser test will skip too)"
        return f"FreqUI {self.version}: {self.outcome.value} in {self.destination}"


def ui_install_dir() -> Path:
    """The folder freqtrade's web server serves FreqUI from (what ``install-ui`` fills)."""
    return Path(freqtrade.rpc.api_server.__file__).parent / "ui" / "installed"


def _build_files(source: Path) -> list[Path]:
    return sorted(p for p in source.rglob("*") if p.is_file())


def build_version(source: Path) -> str:
    """A fingerprint of the build: relative paths and contents of all its files."""
    digest = hashlib.sha256()
    for path in _build_files(source):
        digest.update(path.relative_to(source).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return VERSION_PREFIX + digest.hexdigest()[:12]


def install_ui(source: Path = FREQUI_BUILD, destination: Path | None = None) -> InstallResult:
    """Copy the FreqUI build at ``source`` into ``destination`` unless it is already there.

    A missing ``source`` is no error (the build is optional); a ``source`` without an
    ``index.html`` is, since freqtrade would then serve a broken UI.
    """
    destination = ui_install_dir() if destination is None else destination
    if not source.is_dir():
        return InstallResult(InstallOutcome.NO_BUILD, source, destination, None)
    if not (source / "index.html").is_file():
        raise FileNotFoundError(f"{source} has no index.html: not a FreqUI build")
    version = build_version(source)
    if read_ui_version(destination) == version and (destination / "index.html").is_file():
        return InstallResult(InstallOutcome.UP_TO_DATE, source, destination, version)
    clean_ui_subdir(destination)
    for path in _build_files(source):
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        # copyfile, not copy2: the source is read-only and a read-only copy could not
        # be replaced by the next install
        shutil.copyfile(path, target)
    (destination / ".uiversion").write_text(version)
    logger.info("installed FreqUI %s from %s into %s", version, source, destination)
    return InstallResult(InstallOutcome.INSTALLED, source, destination, version)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=FREQUI_BUILD, help="FreqUI build (dist)")
    args = parser.parse_args(argv)
    try:
        result = install_ui(args.source)
    except (OSError, FileNotFoundError) as err:
        print(f"FreqUI install failed: {err}", file=sys.stderr)
        return 1
    print(result.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
