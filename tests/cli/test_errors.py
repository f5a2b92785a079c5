import json
import subprocess
import sys

import pytest

from tests.conftest import SAMPLE_SCENE, real_file, smooth_cube, write_envi


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_scene(cli, tmp_path) -> None:
    result = cli("encode", tmp_path / "nope.hdr", "-o", tmp_path / "o.zarr")
    assert result.code == 1
    assert "nope.hdr: no such file" in _one_line(result.err)
    assert not (tmp_path / "o.zarr").exists()


def test_truncated_scene(cli, tmp_path) -> None:
    header = write_envi(tmp_path / "c.img", smooth_cube(8, 8, 5))
    (tmp_path / "c.img").write_bytes((tmp_path / "c.img").read_bytes()[:50])
    result = cli("info", header)
    assert result.code == 1 and "truncated" in _one_line(result.err)


def test_existing_output_is_kept(cli, tmp_path, sample_model) -> None:
    out = tmp_path / "o.tif"
    out.write_text("precious")
    result = cli("encode", SAMPLE_SCENE, "-o", out, "-m", sample_model)
    assert result.code == 3 and "--overwrite" in _one_line(result.err)
    assert out.read_text() == "precious"
    # --overwrite replaces only what phism wrote: a foreign file stays
    result = cli("encode", SAMPLE_SCENE, "-o", out, "-m", sample_model, "--overwrite")
    assert result.code == 3 and "phism did not write" in _one_line(result.err)
    assert out.read_text() == "precious"
    out.unlink()
    assert cli("encode", SAMPLE_SCENE, "-o", out, "-m", sample_model, "-q").code == 0
    first = out.read_bytes()
    assert first[:2] in (b"II", b"MM")
    assert cli("encode", SAMPLE_SCENE, "-o", out, "-m", sample_model, "-q",
               "--overwrite").code == 0
    assert out.read_bytes() == first  # same inputs, same bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tif"]  # no leftovers


def test_band_mismatch_names_both(cli, tmp_path, shared_data, sample_model) -> None:
    other = real_file(shared_data, "aviris_ng/topoflux/ang20160910t185702_2rdn_img.hdr")
    result = cli("encode", other, "-o", tmp_path / "o.zarr", "-m", sample_model)
    line = _one_line(result.err)
    assert result.code == 1 and "expects 218 bands" in line and "gives 425 bands" in line
    assert not (tmp_path / "o.zarr").exists()


def test_bad_model_file(cli, tmp_path) -> None:
    fake = tmp_path / "m.safetensors"
    fake.write_bytes(b"\x80\x04not a model")
    result = cli("encode", SAMPLE_SCENE, "-o", tmp_path / "o.zarr", "-m", fake)
    assert result.code == 1 and "not a complete phism encoder" in _one_line(result.err)


def test_debug_shows_traceback(cli, tmp_path) -> None:
    result = cli("--debug", "info", tmp_path / "nope.tif")
    assert result.code == 1 and "Traceback" in result.err


def test_info_json_and_version(cli) -> None:
    summary = json.loads(cli("info", SAMPLE_SCENE, "--json").out)
    assert summary["bands"] == 218 and summary["bad_bands"] == [130, 131, 132, 133, 134, 135]
    assert summary["crs"] == "EPSG:32633" and summary["scale"] == pytest.approx(1e-4)
    assert cli("--version").out.startswith("phism ")


def test_console_script_exit_codes(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "phism_cli", "info", str(tmp_path / "x.tif")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert _one_line(proc.stderr).startswith("phism: error:")
    usage = subprocess.run([sys.executable, "-m", "phism_cli", "encode"],
                           capture_output=True, text=True, check=False)
    assert usage.returncode == 2
