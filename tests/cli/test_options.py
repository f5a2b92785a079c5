"""Shared options: --co/--cog, -h beside --help, shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from phism_cli.cli.options import geotiff_options
from phism_cli.errors import PhismError
from tests.conftest import REPO


def test_creation_options_are_parsed_and_upper_cased() -> None:
    parsed = geotiff_options(["compress=DEFLATE", "ZLEVEL=9", " BLOCKXSIZE = 512 "], False,
                             Path("out.tif"))
    assert parsed == {"creation_options": {"COMPRESS": "DEFLATE", "ZLEVEL": "9",
                                           "BLOCKXSIZE": "512"}, "cog": False}
    assert geotiff_options(None, True, Path("a.TIF"), None) == {"creation_options": {},
                                                                "cog": True}
    assert geotiff_options(None, False, Path("a.zarr")) == {"creation_options": {},
                                                            "cog": False}


@pytest.mark.parametrize(("values", "cog", "output", "message"), [
    (["COMPRESS"], False, "o.tif", "--co 'COMPRESS': give a GDAL creation option as KEY=VALUE"),
    (["COMPRESS="], False, "o.tif", "as KEY=VALUE"),
    (["=ZSTD"], False, "o.tif", "as KEY=VALUE"),
    (["A B=1"], False, "o.tif", "as KEY=VALUE"),
    (["COMPRESS=LZW"], False, "o.zarr", "o.zarr: --co applies to GeoTIFF outputs only"),
    (None, True, "o.zarr", "o.zarr: --cog applies to GeoTIFF outputs only; drop it or name"),
    (["NOPE=1"], False, "o.tif", "o.tif: GDAL's GTiff driver does not take --co NOPE=1 ("),
    (["COMPRESS=NOPE"], True, "o.tif", "o.tif: GDAL's COG driver does not take --co COMPRESS"),
    (["BLOCKXSIZE=64"], True, "o.tif", "COG driver does not take --co BLOCKXSIZE=64"),
])
def test_bad_creation_options_are_one_sentence(values, cog, output, message) -> None:
    with pytest.raises(PhismError) as info:
        geotiff_options(values, cog, Path(output))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("command", [[], ["render"], ["predict"], ["info"], ["degrade"]])
def test_dash_h_is_help_everywhere(cli, command) -> None:
    short, long = cli(*command, "-h"), cli(*command, "--help")
    assert short.code == 0 and short.out == long.out and "Usage: phism" in short.out
    assert "-h, --help" in short.out


@pytest.mark.parametrize("command", ["render", "predict", "degrade", "fuse", "unmix"])
def test_geotiff_commands_take_co_and_cog(cli, command) -> None:
    out = cli(command, "-h").out
    assert "--co KEY=VALUE" in out and "--cog" in out


def test_shell_completion() -> None:
    # typer finds the shell among the parent processes, so ask from inside a bash (the
    # trailing `exit` keeps bash from exec-ing phism in its place)
    command = f"'{sys.executable}' -m phism_cli --show-completion; exit $?"
    script = subprocess.run(["bash", "-c", command],
                            cwd=REPO, capture_output=True, text=True, check=False, timeout=60)
    assert script.returncode == 0 and "_PHISM_COMPLETE" in script.stdout, script.stderr
    env = {**os.environ, "_PHISM_COMPLETE": "complete_bash", "COMP_WORDS": "phism ren",
           "COMP_CWORD": "1"}
    proc = subprocess.run([sys.executable, "-m", "phism_cli"], env=env, cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0 and proc.stdout.split() == ["render"], proc.stderr
