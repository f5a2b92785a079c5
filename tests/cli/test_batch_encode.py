"""`phism encode` over many scenes: folder and template outputs, per-scene JSON lines, the
summary, failures that do not stop the batch, --fail-fast, --skip-existing, one encoder
fitted for the whole batch, and real EnMAP tiles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from phism_cli.io.rasters import RasterReader, phism_raster_metadata
from tests.cli.kit import header_text, scene_cube
from tests.conftest import real_file


def make_scenes(folder: Path, n: int) -> list[Path]:
    """n small ENVI scenes of the kit's sensor, each with its own pixels."""
    folder.mkdir(exist_ok=True)
    headers = []
    for i in range(n):
        header = folder / f"scene{i}.hdr"
        header.write_text(header_text())
        cube = scene_cube(seed=i)
        np.ascontiguousarray(np.moveaxis(cube, -1, 0)).astype("<f4").tofile(
            header.with_suffix(".img"))
        headers.append(header)
    return headers


def read_all(path: Path) -> np.ndarray:
    with RasterReader(path) as reader:
        return reader.read(Window(0, 0, reader.width, reader.height))


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_batch_to_a_folder_with_json_lines(cli, kit, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    result = cli("encode", *scenes, "-o", out, "-m", kit.model, "--json-lines")
    assert result.code == 0, result.err
    lines = json_lines(result.out)
    assert [r["status"] for r in lines] == ["done"] * 3
    assert [Path(r["output"]).name for r in lines] == [f"scene{i}.zarr" for i in range(3)]
    assert "3 done, 0 skipped, 0 failed of 3 scenes" in result.err
    first, second = read_all(out / "scene0.zarr"), read_all(out / "scene1.zarr")
    assert first.shape == second.shape and not np.array_equal(first, second, equal_nan=True)
    assert lines[0]["valid_pixels"] == 62  # 64 pixels, 2 nodata


def test_a_bad_scene_fails_alone_and_the_exit_code_says_so(cli, kit, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 3)
    scenes[1].write_text(header_text().replace("bands = 12", "bands = 13"))  # data too short
    out = tmp_path / "out"
    out.mkdir()
    result = cli("encode", *scenes, "-o", out, "-m", kit.model, "--json")
    assert result.code == 1
    summary = json.loads(result.out)
    assert (summary["done"], summary["failed"], summary["skipped"]) == (2, 1, 0)
    failed = summary["results"][1]
    assert failed["status"] == "failed" and failed["input"] == str(scenes[1])
    assert "scene1.img: truncated" in failed["error"]
    assert sorted(p.name for p in out.iterdir()) == ["scene0.zarr", "scene2.zarr"]
    assert "Traceback" not in result.err and "1 failed of 3 scenes" in result.err


def test_fail_fast_stops_at_the_first_failure(cli, kit, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 3)
    scenes[0].write_text(header_text().replace("bands = 12", "bands = 13"))
    out = tmp_path / "out"
    out.mkdir()
    result = cli("encode", *scenes, "-o", out, "-m", kit.model, "--fail-fast")
    assert result.code == 1 and "scene0.img: truncated" in result.err
    assert list(out.iterdir()) == []


def test_skip_existing_and_overwrite(cli, kit, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    assert cli("encode", scenes[0], "-o", out, "-m", kit.model, "-q").code == 0
    before = (out / "scene0.zarr" / ".zattrs").stat().st_mtime_ns
    refused = cli("encode", *scenes, "-o", out, "-m", kit.model, "--json")
    assert refused.code == 3  # scene0's output exists: that scene fails, scene1 is done
    assert [r["status"] for r in json.loads(refused.out)["results"]] == ["failed", "done"]
    (out / "scene1.zarr").rename(tmp_path / "moved.zarr")
    skipped = cli("encode", *scenes, "-o", out, "-m", kit.model, "--skip-existing",
                  "--json-lines")
    assert skipped.code == 0, skipped.err
    assert [r["status"] for r in json_lines(skipped.out)] == ["skipped", "done"]
    assert (out / "scene0.zarr" / ".zattrs").stat().st_mtime_ns == before
    both = cli("encode", *scenes, "-o", out, "-m", kit.model, "--skip-existing",
               "--overwrite")
    assert both.code == 1 and "give one of the two" in both.err


def test_skip_existing_refuses_what_phism_did_not_finish(cli, kit, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "scene0.zarr").mkdir()  # someone else's folder
    result = cli("encode", *scenes, "-o", out, "-m", kit.model, "--skip-existing")
    assert result.code == 1 and "not a finished phism output" in result.err


def test_template_output_and_one_encoder_for_the_batch(cli, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    result = cli("encode", *scenes, "-o", f"{out}/{{stem}}_latents.tif", "--epochs", "1",
                 "--max-pixels", "200", "--json")
    assert result.code == 0, result.err
    model = out / "encoder.safetensors"
    assert model.is_file() and "fitting one encoder on 2 scenes" in result.err
    shas = {phism_raster_metadata(out / f"scene{i}_latents.tif")["model_sha256"]
            for i in range(2)}
    assert len(shas) == 1
    results = json.loads(result.out)["results"]
    assert all(r["fitted_model"] and r["model"] == str(model) for r in results)
    # A scene added later: --skip-existing reuses the batch's encoder instead of fitting.
    scenes = make_scenes(tmp_path / "in", 3)
    again = cli("encode", *scenes, "-o", f"{out}/{{stem}}_latents.tif", "--skip-existing",
                "--json")
    assert again.code == 0 and "reusing the batch's encoder" in again.err
    assert [r["status"] for r in json.loads(again.out)["results"]] == ["skipped"] * 2 + ["done"]
    assert phism_raster_metadata(out / "scene2_latents.tif")["model_sha256"] in shas


def test_missing_output_folder_fails_before_fitting(cli, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 2)
    result = cli("encode", *scenes, "-o", f"{tmp_path}/missing/{{stem}}.zarr", "--json")
    assert result.code == 1
    assert "output folder does not exist" in result.err
    assert "fitting" not in result.err


def test_real_enmap_tiles_in_one_batch(cli, shared_data, tmp_path, sample_model) -> None:
    folder = real_file(shared_data, "enmap_potsdam/images")
    tiles = sorted(folder.glob("*.tif"))[:3]
    out = tmp_path / "out"
    out.mkdir()
    result = cli("encode", *tiles, "-o", out, "-m", sample_model, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["done"] == 3
    for tile in tiles:
        latents = read_all(out / f"{tile.stem}.zarr")
        assert np.isfinite(latents).all(axis=-1).mean() > 0.9


def test_single_scene_keeps_its_old_summary(cli, kit, tmp_path) -> None:
    scene = make_scenes(tmp_path / "in", 1)[0]
    shutil.copy(kit.model, tmp_path / "m.safetensors")
    result = cli("encode", scene, "-o", tmp_path / "one.zarr", "-m", tmp_path / "m.safetensors",
                 "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["status"] == "done" and summary["valid_pixels"] == 62
    assert summary["fitted_model"] is False and summary["device"] == "cpu"


def test_save_model_with_a_model_is_refused(cli, kit, tmp_path) -> None:
    scene = make_scenes(tmp_path / "in", 1)[0]
    result = cli("encode", scene, "-o", tmp_path / "x.zarr", "-m", kit.model,
                 "--save-model", tmp_path / "m.safetensors")
    assert result.code == 1 and "drop one of the two" in result.err
    assert not (tmp_path / "x.zarr").exists()
