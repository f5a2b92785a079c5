"""Errors that phism reports to the user as one line, without a traceback.

Exit codes: 1 bad input or failure, 2 usage (typer), 3 output exists, 4 output busy (another
phism process is writing it), 128 + N killed by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
"""


class PhismError(Exception):
    """A problem with the user's input or environment that phism can explain in one line."""

    exit_code = 1


class SceneError(PhismError):
    """A scene file is missing, truncated or cannot be understood."""


class ModelMismatchError(PhismError):
    """A model, latent map or head does not fit the data it is applied to."""


class OutputExistsError(PhismError):
    """An output path exists and --overwrite was not given (or may not replace it)."""

    exit_code = 3


class OutputBusyError(PhismError):
    """Another live phism process holds the lock of an output path."""

    exit_code = 4


class StdoutClosed(Exception):
    """Whoever read stdout went away (`phism ... --json | head`). Not an OSError, so that
    typer does not turn it into exit 1."""


def check_file_format(meta: object, path: object, expected: str, newest_version: int,
                      what: str) -> None:
    """Refuse metadata of another kind of file, or of a newer format than this phism reads."""
    from phism_cli import __version__

    if not isinstance(meta, dict) or meta.get("format") != expected:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise PhismError(f"{path}: not a phism {what} (format {found!r}); give a file "
                         f"written by phism")
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise PhismError(f"{path}: {what} format_version {version!r} is not a whole number; "
                         "the file is damaged, write it again")
    if version > newest_version:
        raise PhismError(f"{path}: {what} format {version} is newer than this "
                         f"phism ({__version__}) reads; upgrade phism")


def no_valid_pixels(path: object, what: str = "pixel") -> PhismError:
    return PhismError(f"{path}: no valid {what} (every pixel is nodata, NaN or all zero); "
                      "nothing was written")


class PhismNote(UserWarning):
    """Something phism assumed or chose for the user (a unit read from the values, the array
    of a .mat file it read, a response it cut): the command line prints it on stderr as one
    `phism: note: ...` line; library callers see a warning of this category."""


def note(message: str) -> None:
    """Say what phism assumed, without stopping (see `PhismNote`)."""
    import warnings

    warnings.warn(" ".join(message.split()), PhismNote, stacklevel=2)
