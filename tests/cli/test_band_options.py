"""--bands / --bad-bands / --wavelength-unit through the commands: recorded in what they
write, and a model or head of other bands is refused with the fix that works."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import smooth_cube, write_envi

BANDS = 30
WATER = "8-10,30"  # 1-based bands to drop, as AVIRIS's water bands


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bands")
    wavelengths = ", ".join(f"{w:.1f}" for w in np.linspace(400.0, 2400.0, BANDS))
    return write_envi(folder / "scene.img", smooth_cube(12, 12, BANDS, seed=4),
                      extra_header=f"wavelength = {{{wavelengths}}}\nwavelength units = nm\n")


@pytest.fixture(scope="module")
def model(scene) -> Path:
    from tests.cli.kit import run

    path = scene.with_name("pca.safetensors")
    assert run("fit-encoder", scene, "-o", path, "--basis", "pca", "-k", 3,
               "--bad-bands", WATER, "-q") == 0
    return path


def test_the_model_records_its_bands_and_encode_names_the_fix(cli, tmp_path, scene,
                                                               model) -> None:
    from phism_cli.model.encoder_file import read_encoder_metadata

    meta = read_encoder_metadata(model)
    assert meta["bands_used"] == [b for b in range(1, BANDS + 1) if b not in (8, 9, 10, 30)]
    refused = cli("encode", scene, "-o", tmp_path / "l.zarr", "-m", model)
    assert refused.code == 1
    assert refused.err.strip().splitlines()[-1].endswith(
        "the scene has 4 bands the model was fitted without; pass --bad-bands 8-10,30")
    assert not list(tmp_path.iterdir())
    done = cli("encode", scene, "-o", tmp_path / "l.zarr", "-m", model, "--bad-bands", WATER,
               "--json", "-q")
    assert done.code == 0, done.err
    attrs = json.loads((tmp_path / "l.zarr" / ".zattrs").read_text())["phism"]
    assert attrs["source"]["source_bands"] == meta["bands_used"]


def test_render_and_info_carry_the_band_provenance(cli, tmp_path, scene, model) -> None:
    latents = tmp_path / "l.zarr"
    assert cli("encode", scene, "-o", latents, "-m", model, "--bad-bands", WATER, "-q").code == 0
    assert cli("render", latents, "-o", tmp_path / "r.tif", "-q").code == 0
    info = json.loads(cli("info", tmp_path / "r.tif", "--json").out)
    assert [c["source_band"] for c in info["channels"]][6:8] == [7, 11]
    described = json.loads(cli("info", scene, "--bad-bands", WATER, "--json").out)
    assert described["dropped_bands"] == [8, 9, 10, 30] and described["bands"] == BANDS - 4


def test_a_raw_head_predicts_with_the_bands_it_was_trained_on(cli, tmp_path, scene) -> None:
    import rasterio

    labels = tmp_path / "labels.tif"
    with rasterio.open(labels, "w", driver="GTiff", height=12, width=12, count=1,
                       dtype="uint8", nodata=0) as ds:
        ds.write((np.arange(144).reshape(12, 12) % 2 + 1).astype("uint8"), 1)
    head = tmp_path / "raw.ubj"
    assert cli("--threads", 1, "train-head", scene, "--labels", labels, "-o", head,
               "--bands", "1-20", "--n-estimators", 2, "-q").code == 0
    done = cli("--threads", 1, "predict", scene, "-H", head, "-o", tmp_path / "c.tif", "-q")
    assert done.code == 0, done.err  # the head's 20 bands, without saying them again
    refused = cli("predict", scene, "-H", head, "-o", tmp_path / "d.tif", "--bad-bands", "1")
    assert refused.code == 1
    assert "read the head's bands with --keep-bad-bands --bands 1-20" in refused.err


@pytest.mark.parametrize(("args", "code", "phrase"), [
    (["--bad-bands", "0"], 2, "band 0 does not exist"),
    (["--bad-bands", "3-1"], 2, "runs backwards"),
    (["--bands", "31"], 1, "--bands '31': band 31 does not exist: the file has 30 bands"),
    (["--bands", "1-30", "--bad-bands", "1-30"], 1, "leave no band to read"),
    (["--wavelength-unit", "parsec"], 2, "use one of nm, um"),
    (["--shape", "4,3"], 1, "--shape 4,3: applies to .mat and .npy arrays"),
])
def test_bad_band_options_are_one_line_refusals(cli, scene, args, code, phrase) -> None:
    result = cli("info", scene, *args)
    assert result.code == code
    assert phrase in result.err and "Traceback" not in result.err


def test_wavelengths_in_micrometres_are_said(cli, tmp_path) -> None:
    np.save(tmp_path / "c.npy", smooth_cube(3, 3, 5))
    result = cli("info", tmp_path / "c.npy", "--wavelengths", "0.4:2.5", "--json")
    assert result.code == 0
    assert result.err.startswith("phism: note: --wavelengths 0.4:2.5: wavelengths 0.4-2.5 "
                                 "have no unit")
    described = json.loads(result.out)
    assert described["wavelength_nm"][0] == 400.0 and described["notes"]
    explicit = cli("info", tmp_path / "c.npy", "--wavelengths", "0.4:2.5",
                   "--wavelength-unit", "um")
    assert explicit.code == 0 and "note" not in explicit.err
