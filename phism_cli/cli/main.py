"""The `phism` console entry point: signals, threads and one-line errors around the app.

Nothing heavy is imported before the signal handlers are in place, so an interruption at
any moment, start-up included, ends with one line and the right exit code.
"""

from __future__ import annotations

import os
import sys
import traceback

DEFAULT_GDAL_CACHE_MB = 64


def main(argv: list[str] | None = None) -> None:
    """Run `phism ARGS`; exit 0 on success, else the code of what went wrong (see errors)."""
    from phism_cli import errors, interrupts  # noqa: F401 - loaded before any signal

    previous = interrupts.install()
    try:
        code = _run(sys.argv[1:] if argv is None else list(argv))
    except interrupts.Interrupted as exc:  # between install() and _run's own handlers
        code = _fail(f"interrupted by {exc.name}; {_activity()}", exc.exit_code, False)
    interrupts.finishing()
    if argv is not None:  # called in-process (tests, scripts): give the handlers back
        interrupts.restore(previous)
    sys.exit(code)


def _run(args: list[str]) -> int:
    from phism_cli import interrupts
    from phism_cli.errors import PhismError, StdoutClosed
    from phism_cli.interrupts import Interrupted

    debug = "--debug" in args
    try:
        _quiet_libraries(debug)
        code = _invoke(args)
        interrupts.check_pending()  # a signal swallowed on the way is still an interruption
        return code
    except Interrupted as exc:
        return _fail(f"interrupted by {exc.name}; {_activity()}", exc.exit_code, debug)
    except KeyboardInterrupt:
        return _fail(f"interrupted by SIGINT; {_activity()}", 130, debug)
    except (StdoutClosed, BrokenPipeError):
        # The reader of stdout went away (`phism ... --json | head`): end quietly, as tools
        # killed by SIGPIPE do.
        _silence_stdout()
        return 141
    except Exception as exc:
        if isinstance(exc, PhismError):
            return _fail(str(exc), exc.exit_code, debug)
        return _fail(_describe_unexpected(exc), 1, debug)


def _invoke(args: list[str]) -> int:
    import typer
    from typer.exceptions import TyperException

    from phism_cli.threads import configure_threads, resolve_threads

    # GDAL caches every block it reads, up to 5 % of RAM by default: a stream that reads each
    # block once gains nothing from that, and memory would grow with the scene. Users can
    # still choose their own cache size.
    os.environ.setdefault("GDAL_CACHEMAX", str(DEFAULT_GDAL_CACHE_MB))
    try:
        configure_threads(resolve_threads(None))
    except ValueError as exc:
        from phism_cli.errors import PhismError

        raise PhismError(str(exc)) from None
    from phism_cli.cli.app import app

    try:
        result = app(args=args, prog_name="phism", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        raise KeyboardInterrupt from None
    except TyperException as exc:  # usage errors: typer prints them, exit 2
        exc.show()
        return exc.exit_code
    if isinstance(result, int) and result == 130:  # typer turned a KeyboardInterrupt into 130
        raise KeyboardInterrupt
    return result if isinstance(result, int) else 0


def _quiet_libraries(debug: bool) -> None:
    """Libraries' warnings and log records (GDAL's through rasterio, numpy's) stay off stderr,
    which carries phism's own lines; --debug shows them."""
    import logging
    import warnings

    from phism_cli.errors import PhismNote

    if debug:
        logging.basicConfig(level=logging.WARNING)
    else:
        warnings.simplefilter("ignore")
        root = logging.getLogger()
        if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
            root.addHandler(logging.NullHandler())
    warnings.simplefilter("always", PhismNote)
    if getattr(warnings.showwarning, "phism_notes", False):  # main() called again in-process
        return
    library_warning = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: object,
             **kwargs: object) -> None:
        if issubclass(category, PhismNote):  # what phism assumed: one line, always shown
            _line(f"phism: note: {message}")
        else:
            library_warning(message, category, *args, **kwargs)  # type: ignore[arg-type]

    show.phism_notes = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def _activity() -> str:
    """What the interrupted command left behind. Imports nothing: an interruption may have
    stopped an import half-way, and no outputs module loaded means no output reserved."""
    outputs = sys.modules.get("phism_cli.io.outputs")
    activity = getattr(outputs, "ACTIVITY", None)
    if activity is None:
        return "no output was written"
    try:
        return activity.describe()
    except Exception:  # never let the report of an interruption fail
        return "outputs may be incomplete"


def _describe_unexpected(exc: BaseException) -> str:
    from phism_cli.io.outputs import describe_os_error

    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller --tile-size or --batch-size"
    if isinstance(exc, OSError) and exc.filename:
        from pathlib import Path

        return describe_os_error(exc, "write or read", Path(str(exc.filename)))
    if isinstance(exc, OSError) and exc.errno is not None:
        from pathlib import Path

        return describe_os_error(exc, "be written", Path("the output"))
    text = " ".join(str(exc).split()) or "no details"
    return f"unexpected {type(exc).__name__}: {text} (rerun with --debug for the traceback)"


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    _line(f"phism: error: {message}")
    return code


def _line(message: str) -> None:
    """One line on stderr, whatever the message carried."""
    try:
        sys.stderr.write(" ".join(message.split()) + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
