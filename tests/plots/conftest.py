from tests.cli.conftest import Result, cli  # noqa: F401  (the CLI fixture, shared)
