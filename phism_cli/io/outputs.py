"""Outputs that appear complete or not at all, written by one process at a time.

A command reserves each of its outputs before any work starts (`OutputSet.add`): the path is
checked (an existing output needs `--overwrite`, and even then only a file or store phism
recognises as its own is replaced; links and inputs are never written over), the output's
lock is taken (`.NAME.lock` beside it, so of two writers exactly one proceeds), which also
proves the folder is writable, and partial outputs left there by dead writers are removed.
Work then goes to a hidden sibling (`.NAME.partial-HOST-PID-TOKEN`); when the command
succeeds every output of the set is renamed into place with termination signals held back,
and on any failure or interruption the partial outputs are removed.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phism_cli.errors import OutputBusyError, OutputExistsError, PhismError
from phism_cli.interrupts import held
from phism_cli.io.geotiff import sidecar_paths

PARTIAL_MARK = ".partial-"
TRASH_MARK = ".old-"
LOCK_SUFFIX = ".lock"

Recogniser = Callable[[Path], bool]


def writer_tag() -> str:
    """HOST-PID: who wrote a partial output (host names reduced to safe characters)."""
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())
    return f"{host or 'host'}-{os.getpid()}"


def is_partial_name(path: str | Path) -> bool:
    """True for the hidden names phism gives outputs while they are being written."""
    name = Path(path).name
    return name.startswith(".") and (PARTIAL_MARK in name or TRASH_MARK in name)


def refuse_partial(path: str | Path) -> None:
    """Refuse to read an output that a phism run is writing or was interrupted writing."""
    if is_partial_name(path):
        raise PhismError(f"{path}: an unfinished phism output (a run was interrupted or is "
                         "still writing it); give the finished output instead")


@dataclass
class Activity:
    """What outputs this process removed or finished: said when it is interrupted."""

    removed: list[Path] = field(default_factory=list)
    finished: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        parts = []
        if self.removed:
            parts.append("removed the unfinished " + ", ".join(str(p) for p in self.removed))
        if self.kept:
            parts.append("kept the finished tiles of " + ", ".join(str(p) for p in self.kept)
                         + " (the same command with --resume continues)")
        if self.finished:
            parts.append("finished before the interruption: "
                         + ", ".join(str(p) for p in self.finished))
        else:
            parts.append("no output was written")
        return "; ".join(parts)


ACTIVITY = Activity()


def remove_path(path: Path) -> None:
    """Remove a file, link or directory tree. A writer thread that was still finishing a
    chunk when the main thread was interrupted may create files after a first pass, so
    look again briefly."""
    for _ in range(5):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        time.sleep(0.05)
        if not (path.exists() or path.is_symlink()):
            return


def _apply_umask(path: Path) -> None:
    """Give a finished file the permissions a plain open() would have (some writers use 0600)."""
    if path.is_file():
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)


def describe_os_error(exc: OSError, action: str, path: Path) -> str:
    """One sentence for an OSError met while writing."""
    reason = exc.strerror or str(exc)
    hint = {
        errno.ENOSPC: "free some space or write elsewhere",
        errno.EDQUOT: "free some space or write elsewhere",
        errno.EFBIG: "the file system or a limit refuses files this large; write elsewhere",
        errno.EACCES: "choose a folder you can write to",
        errno.EPERM: "choose a folder you can write to",
        errno.EROFS: "the file system is read-only; write elsewhere",
    }.get(exc.errno or 0, "check the output location")
    return f"{path}: cannot {action} ({reason}); {hint}"


class OutputLock:
    """An exclusive lock on one output path, held by this process until released.

    `flock` on `.NAME.lock`: the kernel drops it when the process dies, even by SIGKILL, so a
    lock is never stale. Where the file system has no flock, an exclusive create of the lock
    file is used instead, and a lock file left by a dead process on this host is taken over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(f".{path.name}{LOCK_SUFFIX}")
        self._fd: int | None = None

    def acquire(self) -> None:
        for _ in range(20):
            fd = self._open()
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputBusyError(
                    f"{self.path}: another phism process ({holder}) is writing this output; "
                    "wait for it to finish or choose another output") from None
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    self._acquire_by_create()
                    return
                raise PhismError(describe_os_error(exc, "lock", self.lock_path)) from None
            if self._still_linked(fd):
                self._fd = fd
                self._write_holder(fd)
                return
            os.close(fd)  # the holder removed this lock file as we opened it: try again
        raise OutputBusyError(f"{self.path}: could not take the output's lock; another phism "
                              "process keeps writing it")

    def _open(self, flags: int = os.O_RDWR | os.O_CREAT) -> int:
        try:
            return os.open(self.lock_path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileExistsError:
            raise
        except OSError as exc:
            raise PhismError(describe_os_error(exc, "create files in its folder",
                                               self.path)) from None

    def _still_linked(self, fd: int) -> bool:
        try:
            return os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _write_holder(self, fd: int) -> None:
        text = f"pid {os.getpid()} on {socket.gethostname()} since " \
               f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        data = text.encode()
        try:  # written before the rest is cut, so a reader never sees an empty file
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        except OSError as exc:
            self.release()
            raise PhismError(describe_os_error(exc, "write", self.lock_path)) from None

    def _acquire_by_create(self) -> None:
        for _ in range(3):
            try:
                fd = self._open(os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                holder = self.lock_path.read_text(errors="replace").strip()
                if _holder_is_dead(holder):
                    with contextlib.suppress(FileNotFoundError):
                        self.lock_path.unlink()
                    continue
                raise OutputBusyError(
                    f"{self.path}: another phism process ({holder or 'unknown'}) is writing "
                    f"this output; wait for it, or remove {self.lock_path} if no phism runs "
                    "there any more") from None
            self._fd = fd
            self._write_holder(fd)
            return
        raise OutputBusyError(f"{self.path}: could not take the output's lock")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if self._still_linked(self._fd):
                self.lock_path.unlink()
        os.close(self._fd)
        self._fd = None


def _read_holder(fd: int, tries: int = 10, wait_s: float = 0.05) -> str:
    """The holder's line; the holder writes it just after taking the lock, so an empty file
    is read again for up to tries x wait_s seconds before the holder is called unknown."""
    for attempt in range(tries):
        try:
            text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        except OSError:
            return "holder unknown"
        if text:
            return text
        if attempt + 1 < tries:
            time.sleep(wait_s)
    return "holder unknown"


def _holder_is_dead(holder: str) -> bool:
    """A lock file's 'pid N on HOST since ...' names a process that no longer runs here."""
    words = holder.split()
    if len(words) < 4 or words[0] != "pid" or words[2] != "on" or not words[1].isdigit():
        return False
    if words[3] != socket.gethostname():
        return False  # another host's process: it cannot be checked from here
    try:
        os.kill(int(words[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class Output:
    """One reserved output: write to `tmp`; it becomes `path` when the set commits."""

    path: Path
    tmp: Path
    lock: OutputLock
    replaces: bool  # an existing output of phism's is replaced on commit
    adopted: bool = False  # `tmp` is a dead writer's partial output, taken over to resume
    keep_partial: bool = False  # on failure keep `tmp` for a later resume, don't remove it
    # With keep_partial: what a later run adopts (OutputSet.add's `adopt`); `tmp` is kept
    # only if it accepts it, so what is said to be kept is what the next run continues.
    resumable: Recogniser | None = None

    def keeps_partial(self) -> bool:
        """On failure: keep `tmp` (a later run will take it over) rather than remove it."""
        if not (self.keep_partial and self.tmp.is_dir()):
            return False
        return self.resumable is None or _accepts(self.resumable, self.tmp)


def _accepts(recognise: Recogniser, path: Path) -> bool:
    try:
        return bool(recognise(path))
    except Exception:  # a store it cannot read is not one to keep
        return False


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(path: Path, overwrite: bool, recognise: Recogniser | None,
                      inputs: Sequence[Path] = ()) -> bool:
    """Validate an output path before work starts; True when it replaces an existing output.

    Refuses: links (a link's target is never written through or replaced), a path that is
    one of the inputs, an existing path without `overwrite`, and with `overwrite` anything
    `recognise` does not accept as phism's own output of this kind.
    """
    if is_partial_name(path):
        raise PhismError(f"{path}: names starting with '.' and holding '{PARTIAL_MARK}' or "
                         f"'{TRASH_MARK}' are phism's own temporary names; choose another name")
    if path.name in ("", ".", ".."):
        raise PhismError(f"{path}: not a file name; give the output a name")
    if path.is_symlink():
        raise OutputExistsError(f"{path}: is a symbolic link; phism neither writes through "
                                "links nor replaces them: give the real path or another name")
    parent = path.parent
    if not parent.exists():
        raise PhismError(f"{parent}: output folder does not exist; create it first")
    if not parent.is_dir():
        raise PhismError(f"{parent}: is not a folder, so {path.name} cannot be written there")
    for source in inputs:
        if _same_file(path, Path(source)):
            raise PhismError(f"{path}: is also an input of this command; write the output "
                             "under another name")
    if not path.exists():
        return False
    if not overwrite:
        raise OutputExistsError(f"{path}: exists; pass --overwrite to replace it")
    if not (path.is_file() or path.is_dir()) or recognise is None or not recognise(path):
        what = "folder" if path.is_dir() else "file"
        raise OutputExistsError(
            f"{path}: exists and is a {what} phism did not write (not a phism output of this "
            "kind); --overwrite replaces only phism's own outputs, so move it away or choose "
            "another name")
    return True


def _move_sidecars(output: Output) -> None:
    """A raster's companion files (GDAL's .aux.xml) go with it; a replaced raster's stale
    ones (old class names, statistics QGIS added) go away."""
    for tmp_side, side in zip(sidecar_paths(output.tmp), sidecar_paths(output.path),
                              strict=True):
        if tmp_side.exists():
            os.replace(tmp_side, side)
        elif side.exists() or side.is_symlink():
            remove_path(side)


class OutputSet:
    """The outputs of one command, committed together or not at all.

    Use as a context manager; `add` reserves an output (validated, locked, stale partials
    cleared) and returns it. Leaving the block normally renames every output into place;
    an exception (or an interruption) removes the partial outputs instead.
    """

    def __init__(self, overwrite: bool = False, inputs: Sequence[Path] = (),
                 announce: Callable[[str], None] | None = None) -> None:
        self.overwrite = overwrite
        self.inputs = [Path(p) for p in inputs]
        self.announce = announce
        self.outputs: list[Output] = []

    def add(self, path: str | Path, recognise: Recogniser | None = None,
            adopt: Recogniser | None = None, keep_partial: bool = False) -> Output:
        """Reserve `path`. `adopt` accepts a partial output of a dead writer to continue
        (`Output.adopted`; the first accepted is renamed to `tmp`, the others removed);
        `keep_partial` keeps `tmp` when the command fails, for a later `adopt`: only when
        `adopt` accepts it (when given), else it is removed like any partial output."""
        path = Path(path)
        if any(o.path == path for o in self.outputs):
            raise PhismError(f"{path}: named twice as an output of one command")
        replaces = check_output_path(path, self.overwrite, recognise, self.inputs)
        lock = OutputLock(path)
        lock.acquire()
        token = uuid.uuid4().hex[:8]
        tmp = path.with_name(f".{path.name}{PARTIAL_MARK}{writer_tag()}-{token}")
        try:
            adopted = self._remove_stale(path, adopt, tmp)
            replaces = check_output_path(path, self.overwrite, recognise, self.inputs)
        except BaseException:
            adopted_kept = (keep_partial and adopt is not None and tmp.is_dir()
                            and _accepts(adopt, tmp))
            if tmp.exists() and not adopted_kept:  # an adopted store stays for the next run
                remove_path(tmp)
            lock.release()
            raise
        output = Output(path, tmp, lock, replaces, adopted, keep_partial,
                        adopt if keep_partial else None)
        self.outputs.append(output)
        return output

    def _remove_stale(self, path: Path, adopt: Recogniser | None = None,
                      tmp: Path | None = None) -> bool:
        """Partial outputs of this name: no live writer can own one while we hold the lock.
        The first that `adopt` accepts becomes `tmp`; True when one did."""
        adopted = False
        for prefix in (f".{path.name}{PARTIAL_MARK}", f".{path.name}{TRASH_MARK}"):
            for stale in sorted(path.parent.glob(f"{glob.escape(prefix)}*")):
                if (not adopted and adopt is not None and tmp is not None
                        and prefix.endswith(PARTIAL_MARK) and adopt(stale)):
                    os.replace(stale, tmp)
                    adopted = True
                    continue
                remove_path(stale)
                if self.announce is not None:
                    writer = stale.name[len(prefix):].rsplit("-", 1)[0] or "an older phism"
                    self.announce(f"removed {stale}, a partial output left by a phism run that "
                                  f"died ({writer})")
        return adopted

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.commit()
        else:
            self.discard()

    def discard(self) -> None:
        with held():
            for output in self.outputs:
                if output.keeps_partial():
                    ACTIVITY.kept.append(output.path)
                elif output.tmp.exists() or output.tmp.is_symlink():
                    remove_path(output.tmp)
                    ACTIVITY.removed.append(output.path)
                for side in sidecar_paths(output.tmp):
                    if side.exists():
                        remove_path(side)
                output.lock.release()
            self.outputs = []

    def commit(self) -> None:
        """Rename every output into place; signals arriving meanwhile wait until it is done."""
        from phism_cli.interrupts import check_pending

        try:
            check_pending()  # a signal that was swallowed: do not commit
        except BaseException:
            self.discard()
            raise
        trash: list[Path] = []
        with held():
            try:
                for output in self.outputs:
                    if not (output.tmp.exists() or output.tmp.is_symlink()):
                        raise PhismError(f"{output.path}: nothing was written (internal error); "
                                         "rerun with --debug and report it")
                    if output.path.exists() and not output.replaces:
                        raise OutputExistsError(f"{output.path}: appeared while phism was "
                                                "writing it; pass --overwrite to replace it")
                for output in self.outputs:
                    _apply_umask(output.tmp)
                    if output.path.is_dir() and not output.path.is_symlink():
                        old = output.path.with_name(
                            f".{output.path.name}{TRASH_MARK}{writer_tag()}-"
                            f"{uuid.uuid4().hex[:8]}")
                        os.replace(output.path, old)
                        trash.append(old)
                    _move_sidecars(output)
                    os.replace(output.tmp, output.path)
                    ACTIVITY.finished.append(output.path)
            except OSError as exc:
                self.discard()
                raise PhismError(describe_os_error(exc, "move the finished output into place",
                                                   output.path)) from None
            except BaseException:
                self.discard()
                raise
            for old in trash:
                remove_path(old)
            for output in self.outputs:
                output.lock.release()
            self.outputs = []

