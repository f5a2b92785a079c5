"""Every bad input is refused before work starts: one line on stderr naming the problem, the
documented exit code, no traceback, and nothing left in the output folder (no output, no
partial output, no lock).

Each case damages copies of a small, valid kit (see `kit.py`) in its own folder and runs the
real command line in-process.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.cli.kit import BANDS, Kit, header_text


@dataclass
class Case:
    name: str
    build: Callable[[Kit, Path], list[object]]
    code: int
    match: str  # a regular expression the one-line message must contain
    env: dict[str, str] = field(default_factory=dict)


def set_field(key: str, value: str) -> str:
    """The kit header with field `key` given `value` (the whole line replaced)."""
    lines = header_text().splitlines()
    out = [f"{key} = {value}" if line.split("=")[0].strip() == key else line for line in lines]
    assert out != lines or key not in header_text(), key
    return "\n".join(out) + "\n"


def drop_field(key: str) -> str:
    lines = [line for line in header_text().splitlines()
             if line.split("=")[0].strip() != key]
    return "\n".join(lines) + "\n"


def add_lines(*extra: str) -> str:
    return header_text() + "".join(f"{line}\n" for line in extra)


def wavelengths_with(index: int, token: str) -> str:
    values = [f"{w:.2f}" for w in np.linspace(420.0, 980.0, BANDS)]
    values[index] = token
    return set_field("wavelength", "{" + ", ".join(values) + "}")


def encode_header(header: str | None = None, data: bytes | None = None) -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        scene = kit.scene(tmp, header=header, data=data)
        return ["encode", scene, "-o", tmp / "out.zarr", "-m", kit.model]
    return build


def info_header(header: str) -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        return ["info", kit.scene(tmp, header=header)]
    return build


def kit_bytes(kit: Kit) -> bytes:
    return kit.data.read_bytes()


def encode_data(change: Callable[[bytes], bytes]) -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        scene = kit.scene(tmp, data=change(kit_bytes(kit)))
        return ["encode", scene, "-o", tmp / "out.zarr", "-m", kit.model]
    return build


def with_model(change: Callable[[Kit, Path], Path]) -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        model = change(kit, tmp)
        return ["encode", kit.scene(tmp), "-o", tmp / "out.zarr", "-m", model]
    return build


def with_head(change: Callable[[Kit, Path], Path]) -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        head = change(kit, tmp)
        return ["predict", kit.latents, "-H", head, "-o", tmp / "classes.tif"]
    return build


def with_latents(change: Callable[[Kit, Path], Path], command: str = "render") -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        latents = change(kit, tmp)
        if command == "render":
            return ["render", latents, "-o", tmp / "recon.tif"]
        return ["predict", latents, "-H", kit.head, "-o", tmp / "classes.tif"]
    return build


# -- damaging files ----------------------------------------------------------------------------
def model_bytes(change: Callable[[bytes], bytes]) -> Callable[[Kit, Path], Path]:
    def make(kit: Kit, tmp: Path) -> Path:
        path = tmp / "model.safetensors"
        path.write_bytes(change(kit.model.read_bytes()))
        return path
    return make


def flip_bit(data: bytes, fraction: float) -> bytes:
    position = int(len(data) * fraction)
    return data[:position] + bytes([data[position] ^ 0x10]) + data[position + 1:]


def rewritten_model(edit: Callable[[dict, dict], None]) -> Callable[[Kit, Path], Path]:
    """The kit model rewritten with its tensors and metadata edited (checksum kept as is)."""
    def make(kit: Kit, tmp: Path) -> Path:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(kit.model), framework="pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
            meta = json.loads(fh.metadata()["phism"])
        edit(tensors, meta)
        path = tmp / "model.safetensors"
        save_file(tensors, str(path), metadata={"phism": json.dumps(meta)})
        return path
    return make


def refitted_model(change: Callable) -> Callable[[Kit, Path], Path]:
    """The kit model changed through the library and saved properly (valid checksum)."""
    def make(kit: Kit, tmp: Path) -> Path:
        from phism_cli.model.checkpoint import load_encoder, save_encoder

        encoder, _ = load_encoder(kit.model)
        change(encoder)
        path = tmp / "model.safetensors"
        save_encoder(encoder, path)
        return path
    return make


def head_bytes(change: Callable[[bytes], bytes], source: str = "head.ubj") -> Callable:
    def make(kit: Kit, tmp: Path) -> Path:
        path = tmp / source
        path.write_bytes(change((kit.root / source).read_bytes()))
        return path
    return make


def head_json_edit(edit: Callable[[dict], None], drop_checksum: bool = True) -> Callable:
    """The JSON head with its trees edited; without its checksum, so the structural checks
    (not the checksum) must catch the damage."""
    def make(kit: Kit, tmp: Path) -> Path:
        model = json.loads(kit.head_json.read_text())
        edit(model)
        if drop_checksum:
            attributes = model["learner"]["attributes"]
            meta = json.loads(attributes["phism"])
            meta.pop("checksum")
            attributes["phism"] = json.dumps(meta)
        path = tmp / "head.json"
        path.write_text(json.dumps(model))
        return path
    return make


def first_tree(model: dict) -> dict:
    return model["learner"]["gradient_booster"]["model"]["trees"][0]


def zarr_copy(edit: Callable[[Path], None]) -> Callable[[Kit, Path], Path]:
    def make(kit: Kit, tmp: Path) -> Path:
        store = kit.copy("latents.zarr", tmp)
        edit(store)
        return store
    return make


def edit_zattrs(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(store: Path) -> None:
        attrs = json.loads((store / ".zattrs").read_text())
        change(attrs["phism"])
        (store / ".zattrs").write_text(json.dumps(attrs))
        consolidated = json.loads((store / ".zmetadata").read_text())
        consolidated["metadata"][".zattrs"] = attrs
        (store / ".zmetadata").write_text(json.dumps(consolidated))
    return edit


def tif_copy(edit: Callable[[rasterio.io.DatasetWriter], None]) -> Callable[[Kit, Path], Path]:
    def make(kit: Kit, tmp: Path) -> Path:
        path = kit.copy("latents.tif", tmp)
        with rasterio.open(path, "r+") as ds:
            edit(ds)
        return path
    return make


def geotiff(edit: Callable[[rasterio.io.DatasetWriter], None]) -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        path = kit.copy("scene.tif", tmp)
        with rasterio.open(path, "r+") as ds:
            edit(ds)
        return ["encode", path, "-o", tmp / "out.zarr", "-m", kit.model]
    return build


def array_scene(array_or_writer: Callable[[Path], Path]) -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        return ["info", array_or_writer(tmp)]
    return build


def npy(array: np.ndarray, name: str = "cube.npy") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        np.save(tmp / name, array, allow_pickle=True)
        return tmp / name
    return make


def raw_file(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(content)
        return tmp / name
    return make


def mat(**arrays: object) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        import scipy.io

        scipy.io.savemat(tmp / "scene.mat", arrays)
        return tmp / "scene.mat"
    return make


def info_of(make: Callable[[Path], Path], *options: object) -> Callable:
    """`phism info` of the file `make` writes, with scene `options`."""
    def build(kit: Kit, tmp: Path) -> list[object]:
        return ["info", make(tmp), *options]
    return build


def kit_info(*options: object) -> Callable:
    return lambda kit, tmp: ["info", kit.header, *options]


def srf_table(axis_name: str, axis: np.ndarray, centre: float, width: float) -> str:
    response = np.exp(-0.5 * ((axis - centre) / width) ** 2)
    rows = "".join(f"{a:g},{r:.6f}\n" for a, r in zip(axis, response, strict=True))
    return f"{axis_name},b1\n" + rows


def degrade_with_srf(text: str, *options: object) -> Callable:
    def build(kit: Kit, tmp: Path) -> list[object]:
        (tmp / "srf.csv").write_text(text)
        return ["degrade", kit.scene(tmp), "-o", tmp / "pair", "--ratio", 2,
                "--srf", tmp / "srf.csv", *options]
    return build


def _encode_dropping_a_band(kit: Kit, tmp: Path) -> list[object]:
    return ["encode", kit.header, "-o", tmp / "out.zarr", "-m", kit.model, "--bad-bands", "4"]


def scene_values(values: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """An ENVI scene whose pixels are replaced (the header unchanged)."""
    def build(kit: Kit, tmp: Path) -> list[object]:
        from tests.cli.kit import scene_cube

        cube = values(scene_cube())
        data = np.ascontiguousarray(np.moveaxis(cube, -1, 0)).astype("<f4").tobytes()
        scene = kit.scene(tmp, data=data)
        return ["encode", scene, "-o", tmp / "out.zarr", "-m", kit.model]
    return build


def _existing_dir(kit: Kit, tmp: Path) -> list[object]:
    folder = tmp / "out.zarr"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    return ["encode", kit.header, "-o", folder, "-m", kit.model, "--overwrite"]


def _existing_file(kit: Kit, tmp: Path) -> list[object]:
    (tmp / "out.tif").write_text("precious")
    return ["encode", kit.header, "-o", tmp / "out.tif", "-m", kit.model, "--overwrite"]


def _exists(kit: Kit, tmp: Path) -> list[object]:
    kit.copy("latents.zarr", tmp, "out.zarr")
    return ["encode", kit.header, "-o", tmp / "out.zarr", "-m", kit.model]


def _symlink(kit: Kit, tmp: Path) -> list[object]:
    kit.copy("latents.zarr", tmp, "real.zarr")
    (tmp / "out.zarr").symlink_to(tmp / "real.zarr")
    return ["encode", kit.header, "-o", tmp / "out.zarr", "-m", kit.model, "--overwrite"]


def _dangling_symlink(kit: Kit, tmp: Path) -> list[object]:
    (tmp / "out.tif").symlink_to(tmp / "elsewhere.tif")
    return ["encode", kit.header, "-o", tmp / "out.tif", "-m", kit.model]


def _output_is_input(kit: Kit, tmp: Path) -> list[object]:
    latents = kit.copy("latents.tif", tmp)
    return ["render", latents, "-o", latents, "--overwrite"]


def _output_is_the_scene(kit: Kit, tmp: Path) -> list[object]:
    latents = kit.copy("latents.zarr", tmp)
    return ["predict", latents, "-H", kit.head, "-o", latents, "--overwrite"]


def _plot_output_exists(kit: Kit, tmp: Path) -> list[object]:
    (tmp / "p.png").write_text("not a picture")
    return ["render", kit.latents, "-o", tmp / "r.tif", "--plot", tmp / "p.png", "--overwrite"]


def _labels_misaligned(kit: Kit, tmp: Path) -> list[object]:
    with rasterio.open(tmp / "l.tif", "w", driver="GTiff", height=3, width=3, count=1,
                       dtype="uint8") as ds:
        ds.write(np.ones((1, 3, 3), np.uint8))
    return ["train-head", kit.latents, "--labels", tmp / "l.tif", "-o", tmp / "h.ubj"]


def _targets_not_numbers(kit: Kit, tmp: Path) -> list[object]:
    (tmp / "t.csv").write_text("field,clay\nlatents,abc\n")
    return ["train-head", kit.latents, "--task", "regression", "--targets", tmp / "t.csv",
            "-o", tmp / "h.ubj"]


def _targets_match_no_field(kit: Kit, tmp: Path) -> list[object]:
    (tmp / "t.csv").write_text("field,clay\nplotA,1.5\nplotB,2.5\n")
    return ["train-head", kit.latents, "--task", "regression", "--targets", tmp / "t.csv",
            "-o", tmp / "h.ubj"]


def _labels_envi_lookup(kit: Kit, tmp: Path) -> list[object]:
    from tests.conftest import write_envi

    header = write_envi(tmp / "l.img", np.ones((8, 8, 1), np.uint8), extra_header=(
        "file type = ENVI Classification\nclass lookup = {0, 0, red}\n"))
    return ["train-head", kit.latents, "--labels", header, "-o", tmp / "h.ubj"]


def _all_nan_latents(kit: Kit, tmp: Path) -> Path:
    import zarr

    store = kit.copy("latents.zarr", tmp)
    array = zarr.open_group(str(store), mode="r+", zarr_format=2)["latent"]
    array[:] = np.nan
    return store


def _fit_on_nodata(kit: Kit, tmp: Path) -> list[object]:
    data = np.full((BANDS, 8, 8), -9999.0, dtype="<f4").tobytes()
    scene = kit.scene(tmp, data=data)
    return ["fit-encoder", scene, "-o", tmp / "m.safetensors", "--epochs", "1"]


def _head_for_other_encoder(kit: Kit, tmp: Path) -> list[object]:
    from phism_cli.model.checkpoint import load_encoder, save_encoder

    encoder, _ = load_encoder(kit.model)
    encoder.training_.epochs += 1  # another file, another sha256
    save_encoder(encoder, tmp / "m2.safetensors")
    from tests.cli.kit import run

    assert run("encode", kit.header, "-o", tmp / "other.zarr", "-m", tmp / "m2.safetensors",
               "-q") == 0
    return ["predict", tmp / "other.zarr", "-H", kit.head, "-o", tmp / "classes.tif"]


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _nan_mean(encoder) -> None:
    encoder.scaler_.mean_ = encoder.scaler_.mean_.copy()
    encoder.scaler_.mean_[3] = np.nan


def _zero_scale(encoder) -> None:
    encoder.scaler_.scale_ = np.zeros_like(encoder.scaler_.scale_)


def _nan_weight(encoder) -> None:
    import torch

    with torch.no_grad():
        next(encoder.model_.parameters())[0, 0] = float("nan")


def _drop_tensor(tensors: dict, meta: dict) -> None:
    tensors.pop(sorted(k for k in tensors if k.startswith("model."))[0])


def _reshape_tensor(tensors: dict, meta: dict) -> None:
    tensors["band_mean"] = tensors["band_mean"][:-1].clone()


def _newer_format(tensors: dict, meta: dict) -> None:
    meta["format_version"] = 99


def _bad_hidden(tensors: dict, meta: dict) -> None:
    meta["config"]["hidden"] = [-4]


def _bad_basis(tensors: dict, meta: dict) -> None:
    meta["renderer"]["basis"] = "lorentz?"


def _nan_axis(tensors: dict, meta: dict) -> None:
    meta["renderer"]["axis_positions"][2] = None


def _not_phism_safetensors(kit: Kit, tmp: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp / "m.safetensors"))
    return tmp / "m.safetensors"


def _safetensors_bad_json(kit: Kit, tmp: Path) -> Path:
    header = b'{"__metadata__": {"phism": "{not json"}}'
    path = tmp / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


def _foreign_xgboost(kit: Kit, tmp: Path) -> Path:
    import xgboost as xgb

    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1},
                        xgb.DMatrix(x, (x[:, 0] > 0).astype(int)), 2)
    booster.save_model(str(tmp / "foreign.ubj"))
    return tmp / "foreign.ubj"


def _head_meta_not_json(model: dict) -> None:
    model["learner"]["attributes"]["phism"] = '{"format": "phism-head", '


def _bad_split_feature(model: dict) -> None:
    first_tree(model)["split_indices"][0] = 999


def _child_cycle(model: dict) -> None:
    tree = first_tree(model)
    if tree["left_children"][0] == -1:
        tree["left_children"][0], tree["right_children"][0] = 0, 0
    else:
        tree["left_children"][0] = 0


def _nan_leaf(model: dict) -> None:
    tree = first_tree(model)
    tree["split_conditions"][0] = float("nan")


def _tree_count(model: dict) -> None:
    model["learner"]["gradient_booster"]["model"]["trees"].pop()


def _edited_leaf_kept_checksum(model: dict) -> None:
    tree = first_tree(model)
    tree["base_weights"][-1] = tree["base_weights"][-1] + 0.5
    tree["split_conditions"][-1] = tree["split_conditions"][-1] + 0.5


def _hidden_partial(kit: Kit, tmp: Path) -> Path:
    return kit.copy("latents.zarr", tmp, ".latents.zarr.partial-host-1234-abcd1234")


def _emit(change: Callable | None = None) -> Callable[[Path], Path]:
    """An EMIT granule (see tests/io/mission_files.py), damaged by `change(h5py.File)`."""
    def make(tmp: Path) -> Path:
        import h5py

        from tests.io.mission_files import write_emit

        path = write_emit(tmp / "EMIT_L2A_RFL_001_t.nc", np.ones((6, 5, 4), np.float32),
                          np.linspace(400.0, 2400.0, 4))
        if change is not None:
            with h5py.File(path, "a") as f:
                change(f)
        return path
    return make


def _prisma(**attrs: object) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        from tests.io.mission_files import write_prisma

        cube = np.ones((4, 6, 3), np.uint16)
        return write_prisma(tmp / "PRS_L2D_STD_t.he5", cube, cube, attrs=attrs)
    return make


def _enmap(xml: str | None = None, image: bool = True) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        from tests.io.mission_files import write_enmap

        folder = tmp / "enmap"
        folder.mkdir()
        tif, metadata = write_enmap(folder, np.ones((3, 4, 4), np.int16),
                                    np.array([450.0, 900.0, 2000.0]), xml=xml)
        if not image:
            tif.unlink()
        return metadata
    return make


CASES = [
    # ENVI header: layout fields and the file size
    Case("samples missing", encode_header(drop_field("samples")), 1, "no 'samples' field"),
    Case("samples text", encode_header(set_field("samples", "abc")), 1,
         "'samples'.*'abc', not a whole number"),
    Case("samples zero", encode_header(set_field("samples", "0")), 1, "at least 1"),
    Case("samples negative", encode_header(set_field("samples", "-8")), 1, "at least 1"),
    Case("samples fractional", encode_header(set_field("samples", "7.5")), 1, "whole number"),
    Case("samples fewer than the file", encode_header(set_field("samples", "7")), 1,
         "bytes would be ignored"),
    Case("lines more than the file", encode_header(set_field("lines", "9")), 1, "truncated"),
    Case("bands fewer than the file", encode_header(set_field("bands", "11")), 1,
         "bytes would be ignored"),
    Case("bands huge", encode_header(set_field("bands", "99999999999999999999")), 1,
         "truncated"),
    Case("data type unknown", encode_header(set_field("data type", "99")), 1,
         "not an ENVI data type"),
    Case("data type complex", encode_header(set_field("data type", "6")), 1, "complex"),
    Case("data type wider than the file", encode_header(set_field("data type", "5")), 1,
         "truncated"),
    Case("data type narrower than the file", encode_header(set_field("data type", "2")), 1,
         "bytes would be ignored"),
    Case("byte order 2", encode_header(set_field("byte order", "2")), 1,
         "'byte order'.*one of 0, 1"),
    Case("byte order -1", encode_header(set_field("byte order", "-1")), 1, "byte order"),
    Case("byte order text", encode_header(set_field("byte order", "big")), 1, "byte order"),
    Case("header offset negative", encode_header(set_field("header offset", "-4")), 1,
         "header offset"),
    Case("header offset past the data", encode_header(set_field("header offset", "16")), 1,
         "truncated"),
    Case("interleave unknown", encode_header(set_field("interleave", "bsx")), 1,
         "bsq, bil or bip"),
    Case("frame offsets", encode_header(add_lines("major frame offsets = {4, 4}")), 1,
         "frame offsets"),
    Case("spectral library as a scene",
         encode_header(set_field("file type", "ENVI Spectral Library")), 1,
         "spectral library"),
    # ENVI header: values
    Case("scale factor zero", encode_header(set_field("reflectance scale factor", "0")), 1,
         "reflectance scale factor is 0.0; it must be a positive number"),
    Case("scale factor NaN", encode_header(set_field("reflectance scale factor", "nan")), 1,
         "not a finite number"),
    Case("scale factor infinite", encode_header(set_field("reflectance scale factor", "inf")),
         1, "not a finite number"),
    Case("scale factor negative", encode_header(set_field("reflectance scale factor", "-2")),
         1, "positive number"),
    Case("scale factor text", encode_header(set_field("reflectance scale factor", "1e4x")), 1,
         "not a number"),
    Case("scale factor list", encode_header(set_field("reflectance scale factor", "{1, 2}")),
         1, "single value"),
    Case("nodata text", encode_header(set_field("data ignore value", "none")), 1,
         "'data ignore value'.*not a number"),
    Case("gain count", encode_header(add_lines("data gain values = {1, 2}")), 1,
         "2 values but the header declares 12 bands"),
    Case("gain zero", encode_header(add_lines(
        "data gain values = {" + ", ".join(["0"] * BANDS) + "}")), 1, "data gain values"),
    # ENVI header: wavelengths and band lists
    Case("wavelength count", encode_header(set_field("wavelength", "{400, 500, 600}")), 1,
         "3 values but the header declares 12 bands.*--ignore-wavelengths"),
    Case("wavelength NaN", encode_header(wavelengths_with(4, "nan")), 1,
         "value 5 is 'nan', not a finite number"),
    Case("wavelength text", encode_header(wavelengths_with(2, "abc")), 1, "value 3 is 'abc'"),
    Case("wavelength empty item", encode_header(wavelengths_with(0, "")), 1, "value 1"),
    Case("wavelength negative", encode_header(wavelengths_with(6, "-500")), 1,
         "wavelength of band 7 is -500"),
    Case("wavelength zero", encode_header(wavelengths_with(6, "0")), 1,
         "finite, positive wavelength"),
    Case("wavelength units unknown", encode_header(set_field("wavelength units", "furlongs")),
         1, "'furlongs', not a length unit"),
    Case("fwhm count", encode_header(set_field("fwhm", "{10, 10}")), 1, "'fwhm'.*2 values"),
    Case("fwhm negative", encode_header(set_field(
        "fwhm", "{" + ", ".join(["-3"] * BANDS) + "}")), 1, "fwhm of band 1"),
    Case("bbl count", encode_header(set_field("bbl", "{1, 0, 1}")), 1, "'bbl'.*3 values"),
    Case("bbl value 2", encode_header(set_field(
        "bbl", "{" + ", ".join(["2"] * BANDS) + "}")), 1, "0 \\(bad\\) or 1 \\(good\\)"),
    Case("bbl all bad", encode_header(set_field(
        "bbl", "{" + ", ".join(["0"] * BANDS) + "}")), 1, "marks every band bad"),
    # ENVI header: syntax
    Case("key given twice", encode_header(add_lines("samples = 9")), 1,
         "'samples' is given twice with different values"),
    Case("misspelt key", encode_header(header_text().replace("data ignore value",
                                                             "data ignore valve")), 1,
         "looks like a damaged 'data ignore value'"),
    Case("unclosed brace", encode_header(header_text().replace("10.00}", "10.00")), 1,
         "never closes it|unbalanced braces"),
    Case("text after a brace", encode_header(header_text().replace(
        "{phism test kit scene}", "{phism test kit scene} extra")), 1, "after the '}'"),
    Case("stray closing brace", encode_header(set_field("interleave", "bsq}")), 1,
         "never opened"),
    Case("line without equals", encode_header(add_lines("this line is garbage")), 1,
         "line 18 .*not 'field = value'"),
    Case("first line not ENVI", encode_header("ENVY\n" + header_text()[5:]), 1,
         "first line must be 'ENVI'"),
    Case("header is binary", encode_header("ENVI\n\x00\x01\x02 = 3\n"), 1, "binary bytes"),
    Case("header empty", encode_header(""), 1, "not an ENVI header"),
    Case("header cut in a list", encode_header(header_text()[:120]), 1, "never closes it"),
    Case("header for info", info_header(set_field("byte order", "7")), 1, "byte order"),
    # ENVI data file
    Case("data file empty", encode_data(lambda b: b""), 1, "truncated: 0 bytes"),
    Case("data file short by one byte", encode_data(lambda b: b[:-1]), 1, "truncated"),
    Case("data file one byte long", encode_data(lambda b: b + b"\0"), 1,
         "1 bytes would be ignored"),
    Case("data file missing", lambda kit, tmp: ["info", _lonely_header(tmp)], 1,
         "without its data file"),
    # GeoTIFF and other GDAL rasters
    Case("GeoTIFF scale zero", geotiff(lambda ds: setattr(ds, "scales", [0.0] * BANDS)), 1,
         "band scale is 0.0"),
    Case("GeoTIFF wavelength text", geotiff(lambda ds: ds.update_tags(3, wavelength="blue")),
         1, "band 3 tag 'wavelength' is 'blue'"),
    Case("GeoTIFF wavelength missing on one band",
         geotiff(lambda ds: ds.update_tags(2, wavelength="")), 1, "wavelength"),
    Case("GeoTIFF offset NaN", geotiff(lambda ds: setattr(ds, "offsets", [float("nan")] * BANDS)),
         1, "band offset is nan"),
    Case("GeoTIFF truncated", lambda kit, tmp: [
        "info", raw_file("cut.tif", kit.geotiff.read_bytes()[:400])(tmp)], 1,
        "not a readable raster"),
    Case("text file named .tif", lambda kit, tmp: [
        "info", raw_file("notes.tif", b"just some notes\n")(tmp)], 1, "not a readable raster"),
    # NumPy and MATLAB arrays
    Case(".npy of two dimensions", array_scene(npy(np.zeros((4, 4), np.float32))), 1,
         r"a 2-D array \(4 x 4\); give its image shape with --shape LINES,SAMPLES"),
    Case(".npy complex", array_scene(npy(np.zeros((2, 2, 3), np.complex64))), 1,
         "complex64 array cannot be read"),
    Case(".npy empty", array_scene(npy(np.zeros((0, 4, 5), np.float32))), 1, "empty"),
    Case(".npy of objects (pickle)", array_scene(npy(np.array([[[{}]]], dtype=object))), 1,
         "not a readable .npy"),
    Case(".npy truncated", lambda kit, tmp: [
        "info", raw_file("c.npy", _npy_bytes()[:100])(tmp)], 1, "not a readable .npy"),
    Case(".mat garbage", array_scene(raw_file("c.mat", b"MATLAB 5.0 MAT-file" + b"\x07" * 200)),
         1, "MATLAB"),
    # Scene options: band lists, array layouts, variables, units, SRF coverage
    Case("--bad-bands syntax", kit_info("--bad-bands", "3-x"), 2, ""),
    Case("--bands reversed range", kit_info("--bands", "9-2"), 2, ""),
    Case("--bad-bands beyond the last band", kit_info("--bad-bands", "13"), 1,
         r"--bad-bands '13': band 13 does not exist: the file has 12 bands"),
    Case("--bands beyond the last band", kit_info("--bands", "2-14"), 1,
         r"--bands '2-14': band 14 does not exist"),
    Case("--bad-bands drops every band", kit_info("--bad-bands", "1-12"), 1,
         "leave no band to read"),
    Case("--bands and --bad-bands leave nothing", kit_info("--bands", "1-4", "--bad-bands",
                                                           "1-4"), 1, "leave no band to read"),
    Case("model fitted with a band the scene drops", _encode_dropping_a_band, 1,
         r"fitted on 1 band this read leaves out \(--bands/--bad-bands drop 4\); pass --bands "
         r"1-12 \(the model's bands\)"),
    Case("--shape syntax", kit_info("--shape", "10"), 2, ""),
    Case("--shape on an ENVI scene", kit_info("--shape", "4,2"), 1,
         r"--shape 4,2: applies to .mat and .npy arrays, and .*scene.hdr is not one"),
    Case("--layout unknown axes", kit_info("--layout", "x,y,z"), 2, ""),
    Case("--pixel-order unknown", kit_info("--pixel-order", "diagonal"), 2, ""),
    Case("EMIT granule without its cube", info_of(_emit(lambda f: f.__delitem__(
        "reflectance"))), 1, r"an EMIT file without 'reflectance' or 'radiance'"),
    Case("EMIT GLT pointing outside the cube", info_of(_emit(lambda f: f[
        "location/glt_x"].__setitem__((1, 1), 50))), 1,
         r"'location/glt_x' points at index 50 of a 5-pixel axis.*--no-ortho"),
    Case("EMIT GLT missing", info_of(_emit(lambda f: f.__delitem__("location"))), 1,
         r"no dataset 'location/glt_x'.*pass --no-ortho"),
    Case("--no-ortho on an ENVI scene", kit_info("--no-ortho"), 1,
         r"--no-ortho: applies to EMIT NetCDF granules, and .*scene.hdr is not one"),
    Case("PRISMA band list of the wrong length", info_of(_prisma(
        List_Fwhm_Swir=np.ones(3))), 1, r"List_Fwhm_Swir has 3 values for 6 bands"),
    Case("PRISMA scale range upside down", info_of(_prisma(L2ScaleSwirMin=2.0)), 1,
         r"L2ScaleSwirMax \(0.8\) is not above L2ScaleSwirMin \(2.0\)"),
    Case("EnMAP metadata without its image", info_of(_enmap(image=False)), 1,
         r"no spectral image .*SPECTRAL_IMAGE.TIF beside it"),
    Case("EnMAP metadata cut short", info_of(_enmap(xml="<level_X><specific>")), 1,
         r"not well-formed XML"),
    Case("--shape that fits no axis", info_of(npy(np.ones((12, 20), np.float32)), "--shape",
                                              "3,3", "--wavelengths", "420:980"), 1,
         r"neither axis of the 12 x 20 matrix holds the 9 pixels --shape gives"),
    Case("--layout 3-D for a 2-D matrix", info_of(npy(np.ones((12, 20), np.float32)),
                                                  "--shape", "4,5", "--layout",
                                                  "bands,rows,cols"), 1,
         r"--layout bands,rows,cols: .* is a 2-D matrix \(12 x 20\)"),
    Case("--layout 2-D for a 3-D cube", info_of(npy(np.ones((6, 5, 12), np.float32)),
                                                "--layout", "bands,pixels"), 1,
         r"is a 3-D array \(6 x 5 x 12\); give rows, cols and bands"),
    Case(".mat with two images", info_of(mat(Z=np.ones((4, 5, 12)), W=np.ones((5, 4, 12)))),
         1, r"2 arrays could be the image: Z \(4 x 5 x 12\), W \(5 x 4 x 12\); name one "
         r"with --variable"),
    Case("--variable not in the .mat", info_of(mat(Y=np.ones((4, 5, 12))), "--variable",
                                               "Q"), 1,
         r"--variable Q: .* has no numeric array of that name; its numeric arrays: Y"),
    Case("--wavelength-unit unknown", kit_info("--wavelength-unit", "furlong"), 2, ""),
    Case("--wavelengths in um said to be nm", kit_info("--wavelengths", "0.4:2.5",
                                                       "--wavelength-unit", "nm"), 1,
         "can only be micrometres"),
    Case("--wavelengths in nm said to be um", kit_info("--wavelengths", "420:980",
                                                       "--wavelength-unit", "um"), 1,
         "can only be nanometres"),
    Case("--wavelengths neither unit", kit_info("--wavelengths", "50:90"), 1,
         "neither plausible nanometres nor micrometres"),
    Case("--wavelengths mixing units", kit_info("--wavelengths", "0.5:900"), 1,
         r"mix values below 30 \(micrometres\?\) with larger ones"),
    Case("header wavelengths in um said nm", info_header(set_field(
        "wavelength", "{" + ", ".join(f"{w:.3f}" for w in np.linspace(0.42, 0.98, BANDS))
        + "}")), 1, "can only be micrometres"),
    Case("--fwhm count", kit_info("--fwhm", "1,2"), 1, r"--fwhm '1,2': 2 widths given"),
    Case("SRF in um with nm numbers", degrade_with_srf(srf_table(
        "wavelength_um", np.arange(380.0, 1100.0, 5.0), 700.0, 20.0)), 1,
        "can only be nanometres"),
    Case("SRF band partly outside the scene", degrade_with_srf(srf_table(
        "wavelength_nm", np.arange(380.0, 1300.0, 5.0), 1000.0, 30.0)), 1,
        r"pass --cut-srf to cut such bands"),
    Case("SRF band wholly outside even with --cut-srf", degrade_with_srf(srf_table(
        "wavelength_nm", np.arange(380.0, 2000.0, 5.0), 1600.0, 25.0), "--cut-srf"), 1,
        "cut to nothing"),
    # Encoder files
    Case("model empty", with_model(model_bytes(lambda b: b"")), 1, "too short"),
    Case("model truncated", with_model(model_bytes(_truncate)), 1,
         "not a complete phism encoder"),
    Case("model with a byte more", with_model(model_bytes(lambda b: b + b"\0")), 1,
         "describes .* bytes of tensors but the file holds"),
    Case("model bit flip in weights", with_model(model_bytes(lambda b: flip_bit(b, 0.7))), 1,
         "checksum does not match"),
    Case("model bit flip in metadata", with_model(model_bytes(lambda b: flip_bit(b, 0.002))),
         1, "encoder|damaged"),
    Case("model NaN band mean", with_model(refitted_model(_nan_mean)), 1,
         "'band_mean' is not a list of 12 values of finite numbers"),
    Case("model zero band scale", with_model(refitted_model(_zero_scale)), 1,
         "'band_scale' is not a list of 12 values of positive numbers"),
    Case("model NaN weight", with_model(refitted_model(_nan_weight)), 1, "holds NaN"),
    Case("model missing tensor", with_model(rewritten_model(_drop_tensor)), 1, "lacks"),
    Case("model wrong tensor shape", with_model(rewritten_model(_reshape_tensor)), 1,
         "shape"),
    Case("model from the future", with_model(rewritten_model(_newer_format)), 1,
         "format 99 is newer"),
    Case("model bad hidden layers", with_model(rewritten_model(_bad_hidden)), 1,
         "setting hidden"),
    Case("model unknown basis", with_model(rewritten_model(_bad_basis)), 1, "basis"),
    Case("model NaN wavelength", with_model(rewritten_model(_nan_axis)), 1, "axis_positions"),
    Case("model without phism metadata", with_model(_not_phism_safetensors), 1,
         "without phism metadata"),
    Case("model metadata not JSON", with_model(_safetensors_bad_json), 1, "not valid JSON"),
    Case("model is a head", with_model(lambda kit, tmp: kit.copy("head.ubj", tmp,
                                                                "h.safetensors")), 1,
         "not a complete phism encoder"),
    Case("model missing", with_model(lambda kit, tmp: tmp / "none.safetensors"), 1,
         "no such model file"),
    # Head files
    Case("head empty", with_head(head_bytes(lambda b: b"")), 1, "the file is empty"),
    Case("head truncated", with_head(head_bytes(_truncate)), 1, "not valid UBJSON"),
    Case("head truncated by one byte", with_head(head_bytes(lambda b: b[:-1])), 1,
         "not valid UBJSON"),
    Case("head padded", with_head(head_bytes(lambda b: b + b"\0\0")), 1, "stray bytes"),
    Case("head JSON truncated", with_head(head_bytes(_truncate, "head.json")), 1,
         "not valid JSON"),
    Case("head bit flip", with_head(head_bytes(lambda b: flip_bit(b, 0.8))), 1,
         "damaged"),
    Case("head random bytes", with_head(head_bytes(lambda b: os.urandom(3000))), 1,
         "not a usable phism head"),
    Case("head of foreign XGBoost", with_head(_foreign_xgboost), 1,
         "without phism metadata"),
    Case("head metadata not JSON", with_head(head_json_edit(_head_meta_not_json,
                                                            drop_checksum=False)), 1,
         "metadata is not valid JSON"),
    Case("head split on a missing feature", with_head(head_json_edit(_bad_split_feature)), 1,
         "splits on a feature"),
    Case("head child cycle", with_head(head_json_edit(_child_cycle)), 1, "not a tree"),
    Case("head NaN split", with_head(head_json_edit(_nan_leaf)), 1, "NaN or infinite"),
    Case("head tree missing", with_head(head_json_edit(_tree_count)), 1, "trees declared"),
    Case("head leaf edited", with_head(head_json_edit(_edited_leaf_kept_checksum,
                                                      drop_checksum=False)), 1,
         "checksum does not match"),
    Case("head from another encoder", _head_for_other_encoder, 1,
         "made by encoder sha256"),
    Case("head missing", with_head(lambda kit, tmp: tmp / "none.ubj"), 1, "no such head"),
    # Latent maps
    Case("latents partial store", with_latents(_hidden_partial), 1, "unfinished phism output"),
    Case("latents without consolidated metadata", with_latents(zarr_copy(
        lambda store: (store / ".zmetadata").unlink())), 1, "unfinished phism Zarr store"),
    Case("latents marked unfinished", with_latents(zarr_copy(edit_zattrs(
        lambda meta: meta.update(complete=False)))), 1, "unfinished phism output"),
    Case("latents GeoTIFF marked unfinished", with_latents(tif_copy(
        lambda ds: ds.update_tags(ns="PHISM", metadata=json.dumps(
            {**json.loads(ds.tags(ns="PHISM")["metadata"]), "complete": False})))), 1,
         "unfinished"),
    Case("latents .zattrs not JSON", with_latents(zarr_copy(
        lambda store: (store / ".zattrs").write_text("{oops"))), 1, "not a phism Zarr store"),
    Case("latents NaN axis", with_latents(zarr_copy(edit_zattrs(
        lambda meta: meta["renderer"]["axis_positions"].__setitem__(0, float("nan"))))), 1,
         "axis_positions"),
    Case("latents renderer K differs", with_latents(zarr_copy(edit_zattrs(
        lambda meta: meta["renderer"].update(n_components=3)))), 1,
         "channels .* are not those its renderer describes"),
    Case("latents array missing", with_latents(zarr_copy(
        lambda store: __import__("shutil").rmtree(store / "latent"))), 1, "damaged"),
    Case("latents GeoTIFF metadata not JSON", with_latents(tif_copy(
        lambda ds: ds.update_tags(ns="PHISM", metadata="{oops"))), 1, "not valid JSON"),
    Case("latents all NaN", with_latents(_all_nan_latents), 1, "no valid latent"),
    Case("latents all NaN to predict", with_latents(_all_nan_latents, "predict"), 1,
         "no valid pixel"),
    Case("render a scene", lambda kit, tmp: ["render", kit.geotiff, "-o", tmp / "r.tif"], 1,
         "GeoTIFF without phism metadata"),
    # Outputs
    Case("output exists", _exists, 3, "exists; pass --overwrite"),
    Case("overwrite a foreign folder", _existing_dir, 3, "folder phism did not write"),
    Case("overwrite a foreign file", _existing_file, 3, "file phism did not write"),
    Case("output is a link", _symlink, 3, "symbolic link"),
    Case("output is a dangling link", _dangling_symlink, 3, "symbolic link"),
    Case("output is the input latents", _output_is_input, 1, "also an input"),
    Case("output is the input features", _output_is_the_scene, 1, "also an input"),
    Case("plot over a foreign file", _plot_output_exists, 3, "phism did not write"),
    Case("output folder missing", lambda kit, tmp: [
        "encode", kit.header, "-o", tmp / "no" / "out.zarr", "-m", kit.model], 1,
        "does not exist"),
    Case("output folder unwritable", lambda kit, tmp: [
        "encode", kit.header, "-o", "/sys/out.zarr", "-m", kit.model], 1,
        "cannot create files"),
    Case("output suffix unknown", lambda kit, tmp: [
        "encode", kit.header, "-o", tmp / "out.nc", "-m", kit.model], 1, "unknown output"),
    Case("output named like a partial", lambda kit, tmp: [
        "encode", kit.header, "-o", tmp / ".o.partial-x.zarr", "-m", kit.model], 1,
        "temporary names"),
    Case("model named without .safetensors", lambda kit, tmp: [
        "fit-encoder", kit.header, "-o", tmp / "m.pt"], 1, "safetensors"),
    Case("head named .pkl", lambda kit, tmp: [
        "train-head", kit.latents, "--labels", kit.labels, "-o", tmp / "h.pkl"], 1,
        r"\*.ubj"),
    Case("plot named .jpg", lambda kit, tmp: [
        "render", kit.latents, "-o", tmp / "r.tif", "--plot", tmp / "p.jpg"], 1, r"\*.png"),
    Case("endmembers plot named .svg", lambda kit, tmp: [
        "endmembers", kit.header, "-k", "2", "-o", tmp / "l.csv", "--plot", tmp / "p.svg"], 1,
        r"\*.png"),
    Case("plot pixel outside the map", lambda kit, tmp: [
        "render", kit.latents, "-o", tmp / "r.tif", "--plot", tmp / "p.png", "--plot-pixels",
        "2,2;0,8"], 1, "pixel row 0, col 8 is outside the 8 x 8 latent map"),
    Case("plot pixels not pairs", lambda kit, tmp: [
        "render", kit.latents, "-o", tmp / "r.tif", "--plot", tmp / "p.png", "--plot-pixels",
        "2 2"], 1, "give ROW,COL pairs"),
    Case("plot pixels without --plot", lambda kit, tmp: [
        "render", kit.latents, "-o", tmp / "r.tif", "--plot-pixels", "1,1"], 1,
        "chooses the pixels of --plot"),
    Case("predict labels misaligned", lambda kit, tmp: [
        "predict", kit.latents, "-H", kit.head, "-o", tmp / "c.tif", "--labels",
        _labels_misaligned(kit, tmp)[3]], 1, "labels must be on the same grid"),
    Case("predict plot for many maps", lambda kit, tmp: [
        "predict", kit.latents, kit.latents_tif, "-H", kit.head, "-o", tmp, "--plot",
        tmp / "p.png"], 1, "predict the FEATURES one by one"),
    # Scenes without a valid pixel
    Case("scene all nodata", scene_values(lambda c: np.full_like(c, -9999.0)), 1,
         "no valid pixel"),
    Case("scene all NaN", scene_values(lambda c: np.full_like(c, np.nan)), 1,
         "no valid pixel"),
    Case("scene all zero", scene_values(lambda c: np.zeros_like(c)), 1, "no valid pixel"),
    Case("scene infinite values", scene_values(lambda c: np.full_like(c, np.inf)), 1,
         "no valid pixel"),
    Case("fit on nodata only", _fit_on_nodata, 1, "only 0 valid pixels"),
    # Options and the environment
    Case("--wavelengths text", lambda kit, tmp: [
        "info", kit.header, "--wavelengths", "abc"], 1, "'abc' is not a positive number"),
    Case("--wavelengths equal ends", lambda kit, tmp: [
        "info", kit.header, "--wavelengths", "500:500"], 1, "two different positive"),
    Case("--wavelengths count", lambda kit, tmp: [
        "info", kit.header, "--wavelengths", "400,500"], 1, "2 wavelengths given for 12"),
    Case("--wavelengths NaN", lambda kit, tmp: [
        "info", kit.header, "--wavelengths", ",".join(["nan"] * BANDS)], 1,
        "'nan' is not a positive"),
    Case("PHISM_THREADS text", lambda kit, tmp: ["info", kit.header], 1,
         "PHISM_THREADS='many' is not a positive", env={"PHISM_THREADS": "many"}),
    Case("PHISM_THREADS zero", lambda kit, tmp: ["info", kit.header], 1, "PHISM_THREADS='0'",
         env={"PHISM_THREADS": "0"}),
    Case("--threads zero", lambda kit, tmp: ["encode", kit.header, "-o", tmp / "o.zarr",
                                             "--threads", "0"], 2, ""),
    Case("--device unknown", lambda kit, tmp: ["encode", kit.header, "-o", tmp / "o.zarr",
                                               "--device", "tpu"], 2, ""),
    Case("--lr NaN", lambda kit, tmp: ["fit-encoder", kit.header, "-o", tmp / "m.safetensors",
                                       "--lr", "nan"], 1, "--lr nan"),
    Case("--seed negative", lambda kit, tmp: ["fit-encoder", kit.header, "-o",
                                              tmp / "m.safetensors", "--seed", "-1"], 2, ""),
    Case("--learning-rate NaN", lambda kit, tmp: [
        "train-head", kit.latents, "--labels", kit.labels, "-o", tmp / "h.ubj",
        "--learning-rate", "nan"], 1, "--learning-rate nan"),
    Case("--tile-size too small", lambda kit, tmp: [
        "encode", kit.header, "-o", tmp / "o.zarr", "--tile-size", "4"], 2, ""),
    Case("labels misaligned", _labels_misaligned, 1, "same grid"),
    Case("labels lookup text", _labels_envi_lookup, 1, "'class lookup'"),
    Case("targets not numbers", _targets_not_numbers, 1, "'abc' is not a number"),
    Case("targets match no field", _targets_match_no_field, 1,
         "only 0 fields have both valid pixels and a row in the targets table"),
]


def _lonely_header(tmp: Path) -> Path:
    (tmp / "lonely.hdr").write_text(header_text())
    return tmp / "lonely.hdr"


def _npy_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.ones((4, 4, 8), np.float32))
    return buffer.getvalue()


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, kit, cli, tmp_path, monkeypatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    args = case.build(kit, tmp_path)
    before = _listing(tmp_path)
    kit_before = _listing(kit.root)
    result = cli(*args)
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == case.code, result.err
    if case.code == 2:  # usage errors are typer's own few lines, still no traceback
        assert result.err.strip()
    else:
        assert len(lines) == 1 and lines[0].startswith("phism: error: "), result.err
        assert re.search(case.match, lines[0], re.IGNORECASE), lines[0]
    assert result.out == ""
    assert _listing(tmp_path) == before, "the refusal left files behind"
    assert _listing(kit.root) == kit_before
