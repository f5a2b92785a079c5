"""`render` and `predict` over many latent maps: one output each, per-scene results, skips,
failures that do not stop the batch, and options that only make sense for one file."""

from __future__ import annotations

import json
import shutil

import rasterio


def _latents(kit, folder, n: int = 2) -> list:
    folder.mkdir()
    copies = []
    for i in range(n):
        copies.append(shutil.copytree(kit.latents, folder / f"tile{i}.zarr"))
    return copies


def test_predict_many_latent_maps_into_a_folder(cli, kit, tmp_path) -> None:
    latents = _latents(kit, tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    result = cli("predict", *latents, "-H", kit.head, "-o", out, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["done"] == 2 and [r["status"] for r in summary["results"]] == ["done"] * 2
    for i in range(2):
        with rasterio.open(out / f"tile{i}.tif") as ds:
            assert ds.count == 1 and ds.dtypes[0].startswith("uint")
    again = cli("predict", *latents, "-H", kit.head, "-o", out, "--skip-existing",
                "--json-lines")
    assert again.code == 0
    assert [json.loads(line)["status"] for line in again.out.splitlines()] == ["skipped"] * 2


def test_render_batch_goes_on_past_a_damaged_latent_map(cli, kit, tmp_path) -> None:
    latents = _latents(kit, tmp_path / "in", 3)
    (latents[1] / ".zattrs").write_text("{not json")
    out = tmp_path / "out"
    out.mkdir()
    result = cli("render", *latents, "-o", f"{out}/{{stem}}_spectra.tif", "--json")
    assert result.code == 1
    statuses = [r["status"] for r in json.loads(result.out)["results"]]
    assert statuses == ["done", "failed", "done"]
    assert sorted(p.name for p in out.iterdir()) == ["tile0_spectra.tif", "tile2_spectra.tif"]
    assert "2 done, 0 skipped, 1 failed of 3 scenes" in result.err


def test_render_batch_refuses_one_reference_for_many(cli, kit, tmp_path) -> None:
    latents = _latents(kit, tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    result = cli("render", *latents, "-o", out, "--reference", kit.header)
    assert result.code == 1 and "render the latent maps one by one" in result.err
    assert list(out.iterdir()) == []
