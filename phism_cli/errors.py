"""Errors that phism reports to the user as one line, without a traceback."""


class PhismError(Exception):
    """A problem with the user's input or environment that phism can explain in one line."""

    exit_code = 1


class SceneError(PhismError):
    """A scene file is missing, truncated or cannot be understood."""


class ModelMismatchError(PhismError):
    """A model, latent map or head does not fit the data it is applied to."""


class OutputExistsError(PhismError):
    """An output path exists and --overwrite was not given."""

    exit_code = 3


def check_file_format(meta: dict, path: object, expected: str, newest_version: int,
                      what: str) -> None:
    """Refuse metadata of another kind of file, or of a newer format than this phism reads."""
    from phism_cli import __version__

    if meta.get("format") != expected:
        raise PhismError(f"{path}: not a phism {what} (format {meta.get('format')!r})")
    if int(meta.get("format_version", 0)) > newest_version:
        raise PhismError(f"{path}: {what} format {meta['format_version']} is newer than this "
                         f"phism ({__version__}) reads; upgrade phism")
