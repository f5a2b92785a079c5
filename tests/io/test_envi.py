import numpy as np
import pytest
from rasterio.windows import Window

from phism_cli.errors import SceneError
from phism_cli.io import open_scene
from tests.conftest import real_file, smooth_cube, write_envi

WAVELENGTHS = "wavelength units = Micrometers\nwavelength = {0.4, 0.5, 0.6, 0.7, 0.8}\n"


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("byte_order", [0, 1])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float32", "float64", "uint16",
                                   "uint32", "int64", "uint64"])
def test_interleave_round_trip(tmp_path, interleave, byte_order, dtype) -> None:
    cube = (smooth_cube(7, 9, 5) * 100).astype(dtype)
    header = write_envi(tmp_path / "cube.img", cube, interleave, byte_order, header_offset=32)
    with open_scene(header) as scene:
        assert scene.shape == (7, 9, 5)
        np.testing.assert_array_equal(scene.read(), cube.astype(np.float32))
        window = Window(2, 3, 4, 2)  # col_off, row_off, width, height
        np.testing.assert_array_equal(scene.read(window), cube[3:5, 2:6].astype(np.float32))


def test_either_path_opens_the_scene(tmp_path) -> None:
    header = write_envi(tmp_path / "cube.bil", smooth_cube(3, 4, 5), "bil")
    assert open_scene(header).shape == open_scene(tmp_path / "cube.bil").shape == (3, 4, 5)


def test_header_fields(tmp_path) -> None:
    cube = (smooth_cube(4, 4, 5) * 1000).astype(np.int16)
    cube[0, 0, :] = -9999
    header = write_envi(
        tmp_path / "cube.dat", cube, extra_header=WAVELENGTHS
        + "fwhm = {0.01, 0.01, 0.01, 0.01, 0.01}\nbbl = {1, 1, 0, 1, 1}\n"
        "data ignore value = -9999\nreflectance scale factor = 1000\n")
    with open_scene(header) as scene:
        np.testing.assert_allclose(scene.wavelength_nm, [400, 500, 700, 800])
        np.testing.assert_allclose(scene.fwhm_nm, [10, 10, 10, 10])
        assert scene.count == 4 and scene.nodata == -9999
        block = scene.read()
        assert np.isnan(block[0, 0]).all()
        np.testing.assert_allclose(block[1, 1], cube[1, 1, [0, 1, 3, 4]] / 1000, rtol=1e-6)
    with open_scene(header, keep_bad_bands=True) as scene:
        assert scene.count == 5


def test_wavelengths_from_band_names_when_absent(tmp_path) -> None:
    names = ", ".join(f"{w} Nanometers" for w in (400, 410, 420, 430, 440))
    header = write_envi(tmp_path / "c.img", smooth_cube(2, 2, 5),
                        extra_header=f"band names = {{{names}}}\n")
    np.testing.assert_allclose(open_scene(header).wavelength_nm, [400, 410, 420, 430, 440])


def test_truncated_file_is_refused(tmp_path) -> None:
    write_envi(tmp_path / "c.img", smooth_cube(6, 6, 5))
    data = (tmp_path / "c.img").read_bytes()
    (tmp_path / "c.img").write_bytes(data[:-100])
    with pytest.raises(SceneError, match="truncated"):
        open_scene(tmp_path / "c.hdr")


def test_unreadable_header_and_missing_data(tmp_path) -> None:
    (tmp_path / "bad.hdr").write_text("not a header\n")
    (tmp_path / "bad.img").write_bytes(b"\0" * 10)
    with pytest.raises(SceneError, match="not an ENVI header"):
        open_scene(tmp_path / "bad.hdr")
    (tmp_path / "lonely.hdr").write_text("ENVI\nsamples = 1\n")
    with pytest.raises(SceneError, match="without its data file"):
        open_scene(tmp_path / "lonely.hdr")
    with pytest.raises(SceneError, match="no such file"):
        open_scene(tmp_path / "missing.hdr")


def test_aviris_ng_bsq_with_utm_map_info(shared_data) -> None:
    path = real_file(shared_data, "aviris_ng/topoflux/ang20160910t185702_2rdn_img.hdr")
    with open_scene(path) as scene:
        assert scene.shape == (25, 30, 425)
        assert scene.crs.to_epsg() == 32611
        assert tuple(scene.transform)[:6] == pytest.approx(
            (15.0, 0.0, 353128.751647949, 0.0, -15.0, 3813729.76806641))
        # wavelengths only in "band names" ("376.44 Nanometers")
        assert scene.wavelength_nm[0] == pytest.approx(376.44)
        assert np.all(np.diff(scene.wavelength_nm) > 0)
        assert scene.nodata == -9999


def test_aviris_ng_bil_chunk(shared_data) -> None:
    path = real_file(shared_data, "aviris_ng/small_chunk/ang20170323t202244_rdn_7000-7010.hdr")
    with open_scene(path) as scene:
        assert scene.shape == (10, 10, 425)
        assert scene.wavelength_nm[0] == pytest.approx(376.86)
        assert scene.fwhm_nm[0] == pytest.approx(5.57)  # same unit as the wavelengths
        raw = np.fromfile(path.with_suffix(""), dtype="<f4").reshape(10, 425, 10)
        np.testing.assert_array_equal(scene.read(Window(0, 4, 10, 1))[0], raw[4].T)


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("byte_order", [0, 1])
def test_memory_map_fallback_reads_the_same(tmp_path, interleave, byte_order) -> None:
    """Files GDAL cannot open are read through a memory map; both paths must agree."""
    cube = (smooth_cube(7, 9, 5) * 100).astype("int16")
    header = write_envi(tmp_path / "cube.img", cube, interleave, byte_order, header_offset=16)
    with open_scene(header) as scene:
        assert scene._dataset is not None
        via_gdal = scene.read(Window(1, 2, 5, 4))
        scene._dataset = None  # what happens when GDAL cannot open the file
        np.testing.assert_array_equal(scene.read(Window(1, 2, 5, 4)), via_gdal)
        np.testing.assert_array_equal(via_gdal, cube[2:6, 1:6].astype(np.float32))
