from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from phism_cli.cli.main import main
from tests.cli.kit import header_text, scene_cube
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


@pytest.fixture(scope="session")
def slow_scene(kit, tmp_path_factory) -> Path:
    """The kit's scene tiled to 384 x 384 pixels, so that encoding it takes seconds."""
    folder = tmp_path_factory.mktemp("slow")
    cube = np.tile(scene_cube(), (48, 48, 1))
    header = header_text().replace("samples = 8", f"samples = {cube.shape[1]}")
    (folder / "slow.hdr").write_text(header.replace("lines = 8", f"lines = {cube.shape[0]}"))
    np.ascontiguousarray(np.moveaxis(cube, -1, 0)).astype("<f4").tofile(folder / "slow.img")
    return folder / "slow.hdr"


@pytest.fixture
def work(tmp_path, slow_scene, kit) -> Path:
    for source in (slow_scene, slow_scene.with_suffix(".img"), kit.model):
        (tmp_path / source.name).symlink_to(source)
    return tmp_path
