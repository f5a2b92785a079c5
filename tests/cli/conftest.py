from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from phism_cli.cli.app import main
from tests.conftest import SAMPLE_SCENE


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run `phism ARGS...` in-process through the real entry point."""

    def run(*args: object) -> Result:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def sample_model(tmp_path_factory) -> Path:
    """An encoder fitted once on sample_data through the CLI, shared by the CLI tests."""
    path = tmp_path_factory.mktemp("model") / "sample.safetensors"
    try:
        main(["fit-encoder", str(SAMPLE_SCENE), "-o", str(path), "--epochs", "10",
              "--seed", "0", "--quiet"])
    except SystemExit as exc:
        assert exc.code == 0
    return path

