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
