"""Kill-switch state store: a small JSON file shared by the bot and the ``metalabel`` CLI.

The file is written atomically (temp file + ``os.replace``), so the bot, restarted or
not, stays tripped until ``metalabel resume`` resets it. The bot re-reads the file every
loop: :meth:`KillSwitchStore.read` is one read of a file under 1 KB and never sees a
half-written file. A missing file is ACTIVE; a file that can not be read or parsed is
TRIPPED, with a message saying how to reset.

A reset clears the equity marks: resuming accepts the current equity as the new
baseline (otherwise a drawdown trip would fire again on the next loop).

When the directory stops being writable while the bot runs, a trip still holds: it
is kept in memory (:meth:`KillSwitchStore.read` answers TRIPPED from then on), the
write is retried by :meth:`KillSwitchStore.flush` every loop, and
:attr:`KillSwitchStore.write_error` says why it is not on disk yet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from metalabel.risk.killswitch.rules import (
    RESUME_HINT,
    KillState,
    KillSwitchState,
    KillTrigger,
    track_equity,
)

try:  # POSIX; the bot runs on Linux (Docker). Without it writes are atomic but unlocked.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


class StateWriteError(OSError):
    """The kill-switch state could not be written; the message says where and why."""


class KillSwitchStore:
    """The kill-switch state file, shared by the strategy and the ``metalabel`` CLI.

    Readers never lock: every write replaces the file atomically, so a read sees the
    old or the new state, whole. Writers (trip, reset, equity bookkeeping) take an
    advisory lock on ``<file>.lock`` around read-modify-write, so the bot's bookkeeping
    write can not undo a ``metalabel kill`` that landed in between.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._reported: str | None = None  # the last unreadable-file problem logged
        # A state that could not be written yet (a trip, or new equity marks); it wins
        # over the file until a write succeeds, so a trip is never lost.
        self._unsaved: KillSwitchState | None = None
        self.write_error: str | None = None

    def read(self) -> KillSwitchState:
        """The current state: missing file = ACTIVE, unreadable or corrupt = TRIPPED.

        A trip held in memory because it could not be written reads as TRIPPED.
        """
        on_disk = self._read_file()
        if self._unsaved is None or on_disk.tripped:
            return on_disk
        return self._unsaved

    def _read_file(self) -> KillSwitchState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return KillSwitchState()
        except OSError as err:
            return self._unreadable(f"can not be read ({err.__class__.__name__}: {err})")
        try:
            state = KillSwitchState.from_json(raw)
        except (ValueError, KeyError, TypeError) as err:
            return self._unreadable(f"is corrupt ({err.__class__.__name__}: {err})")
        self._reported = None
        return state

    def _unreadable(self, problem: str) -> KillSwitchState:
        reason = f"kill-switch state file {self.path} {problem}; treated as TRIPPED; {RESUME_HINT}"
        if reason != self._reported:  # the bot reads every loop: log a problem once
            logger.error(reason)
            self._reported = reason
        return KillSwitchState(
            state=KillState.TRIPPED, reason=reason, trigger=KillTrigger.UNREADABLE_STATE
        )

    def write(self, state: KillSwitchState) -> None:
        """Replace the file atomically (temp file in the same directory + ``os.replace``).

        Raises :class:`StateWriteError` naming the file when that is not possible.
        """
        try:
            self._write(state)
        except OSError as err:
            raise StateWriteError(
                f"can not write the kill-switch state file {self.path} "
                f"({err.__class__.__name__}: {err})"
            ) from err

    def _write(self, state: KillSwitchState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(state.to_json() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename durable; best effort
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def check_writable(self) -> None:
        """Raise :class:`StateWriteError` unless a state can be written beside the file.

        Creates the directory and writes (then removes) a probe file: permission bits
        alone do not tell (root ignores them, a read-only mount does not show in them).
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.path.parent, prefix=".probe.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
            with open(self._lock_path(), "a"):
                pass
        except OSError as err:
            raise StateWriteError(
                f"kill-switch state directory {self.path.parent} is not writable "
                f"({err.__class__.__name__}: {err}); the bot could not persist a trip"
            ) from err

    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            yield
            return
        try:
            lock = open(self._lock_path(), "a")  # noqa: SIM115 - closed below
        except OSError as err:
            # A lock file owned by someone else must not stop a trip from being written.
            logger.warning(
                "kill-switch lock %s unusable (%s); writing unlocked", self._lock_path(), err
            )
            yield
            return
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def trip(
        self, trigger: KillTrigger, reason: str, now: datetime, *, must_persist: bool = False
    ) -> KillSwitchState:
        """Trip the switch; an already tripped switch keeps its first trigger and reason.

        An unreadable file is left as it is (it already reads as TRIPPED) so that it can
        be inspected. When the write fails the trip is held in memory and retried by
        :meth:`flush`; with ``must_persist`` (the CLI, which exits right after) the
        :class:`StateWriteError` is raised instead.
        """
        current = self.read()
        if current.tripped:
            return current
        tripped = replace(
            current,
            state=KillState.TRIPPED,
            reason=reason,
            trigger=trigger,
            tripped_at=now.astimezone(UTC),
        )
        try:
            with self._locked():
                on_disk = self.read()  # a newer state may have landed meanwhile
                if on_disk.tripped:
                    return on_disk
                tripped = replace(
                    on_disk,
                    state=KillState.TRIPPED,
                    reason=reason,
                    trigger=trigger,
                    tripped_at=now.astimezone(UTC),
                )
                self.write(tripped)
        except OSError as err:
            if must_persist:
                raise self._as_write_error(err) from err
            self._hold(tripped, err)
            logger.critical(
                "kill switch TRIPPED (%s): %s; NOT PERSISTED (%s): held in memory, "
                "retrying the write every loop",
                trigger.value,
                reason,
                self.write_error,
            )
            return tripped
        self._saved()
        logger.error("kill switch TRIPPED (%s): %s; %s", trigger.value, reason, RESUME_HINT)
        return tripped

    def _as_write_error(self, err: OSError) -> StateWriteError:
        if isinstance(err, StateWriteError):
            return err
        return StateWriteError(
            f"can not write the kill-switch state file {self.path} "
            f"({err.__class__.__name__}: {err})"
        )

    def _hold(self, state: KillSwitchState, err: OSError) -> None:
        self._unsaved = state
        self.write_error = str(self._as_write_error(err))

    def _saved(self) -> None:
        if self._unsaved is not None:
            logger.warning("kill-switch state written to %s after earlier failures", self.path)
        self._unsaved = None
        self.write_error = None

    def flush(self) -> bool:
        """Retry writing a state held in memory; True when nothing is pending any more.

        A trip on disk wins over equity marks held in memory; a trip held in memory is
        written unless the file already holds a trip.
        """
        pending = self._unsaved
        if pending is None:
            return True
        try:
            with self._locked():
                on_disk = self._read_file()
                if not on_disk.tripped:
                    self.write(pending)
        except OSError as err:
            self.write_error = str(self._as_write_error(err))
            return False
        self._saved()
        return True

    def reset(self, now: datetime, *, reason: str = "manual resume") -> KillSwitchState:
        """Back to ACTIVE; clears the equity marks so the current equity is the baseline.

        Also the way out of an unreadable file, which it overwrites. Raises
        :class:`StateWriteError` when the file can not be written.
        """
        try:
            with self._locked():
                previous = self._read_file()
                state = KillSwitchState(
                    state=KillState.ACTIVE, reason=reason, reset_at=now.astimezone(UTC)
                )
                self.write(state)
        except OSError as err:
            raise self._as_write_error(err) from err
        self._saved()
        logger.warning(
            "kill switch reset to ACTIVE (%s); was %s: %s",
            reason,
            previous.state.value,
            previous.reason or "-",
        )
        return state

    def record_equity(self, equity: float, now: datetime) -> KillSwitchState:
        """Update peak / start-of-day equity in the file; writes only when they changed.

        Does not write over an unreadable file, and never changes ``state``: the mark
        update is applied to what is on disk under the lock. When the write fails the
        marks are kept in memory (the drawdown check still sees the peak) and retried.
        """
        current = self.read()
        if current.trigger is KillTrigger.UNREADABLE_STATE:
            return current
        if track_equity(current, equity, now) is current:
            return current
        if self._unsaved is not None:  # writes are failing: keep tracking in memory
            self._unsaved = track_equity(self._unsaved, equity, now)
            self.flush()
            return self.read()
        updated = current
        try:
            with self._locked():
                current = self._read_file()
                if current.trigger is KillTrigger.UNREADABLE_STATE:
                    return current
                updated = track_equity(current, equity, now)
                if updated is not current:
                    self.write(updated)
        except OSError as err:
            updated = track_equity(current, equity, now)
            self._hold(updated, err)
            logger.error("equity marks kept in memory only: %s", self.write_error)
        return updated


class MemoryKillSwitchStore:
    """The kill-switch store of a backtest: same interface, nothing on disk."""

    write_error: str | None = None

    def __init__(self) -> None:
        self._state = KillSwitchState()

    def read(self) -> KillSwitchState:
        return self._state

    def write(self, state: KillSwitchState) -> None:
        self._state = state

    def flush(self) -> bool:
        return True

    def trip(self, trigger: KillTrigger, reason: str, now: datetime) -> KillSwitchState:
        if not self._state.tripped:  # the first trigger and reason are kept, as on disk
            self._state = replace(
                self._state,
                state=KillState.TRIPPED,
                reason=reason,
                trigger=trigger,
                tripped_at=now,
            )
            logger.error("kill switch TRIPPED (%s): %s", trigger.value, reason)
        return self._state

    def record_equity(self, equity: float, now: datetime) -> KillSwitchState:
        self._state = track_equity(self._state, equity, now)
        return self._state
