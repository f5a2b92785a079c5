from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat

from phism_cli.errors import SceneError
from phism_cli.io import open_scene
from tests.conftest import real_file, smooth_cube


def test_indian_pines_mat(shared_data) -> None:
    path = real_file(shared_data, "indian_pines/Indian_pines_corrected.mat")
    with open_scene(path) as scene:
        assert scene.shape == (145, 145, 200)
        assert scene.wavelength_nm is None and scene.crs is None
        expected = loadmat(path)["indian_pines_corrected"][10, 20].astype(np.float32)
        np.testing.assert_array_equal(scene.read()[10, 20], expected)
    with open_scene(path, wavelengths="400:2500") as scene:
        assert scene.wavelength_nm[0] == 400 and scene.wavelength_nm[-1] == 2500


def test_npy_and_wrong_wavelength_count(tmp_path) -> None:
    np.save(tmp_path / "c.npy", smooth_cube(3, 3, 4))
    assert open_scene(tmp_path / "c.npy").shape == (3, 3, 4)
    with pytest.raises(SceneError, match=r"c\.npy has 4 bands"):
        open_scene(tmp_path / "c.npy", wavelengths="1,2,3")


def test_a_named_two_dimensional_mat_variable_is_one_band(tmp_path):
    from scipy.io import savemat

    from phism_cli.io.arrays import ArrayScene

    image = np.arange(12, dtype=np.float64).reshape(3, 4)
    savemat(tmp_path / "pan.mat", {"pan": image, "cube": np.ones((2, 2, 3))})
    scene = ArrayScene(tmp_path / "pan.mat", variable="pan")
    assert scene.shape == (3, 4, 1)
    np.testing.assert_array_equal(scene.read()[..., 0], image)
    assert ArrayScene(tmp_path / "pan.mat").shape == (2, 2, 3)  # the cube by default
    savemat(tmp_path / "only.mat", {"pan": image})
    with pytest.raises(SceneError, match=r"only 2-D ones \(pan \(3 x 4\)\); for a matrix"):
        ArrayScene(tmp_path / "only.mat")


def _jasper_like(tmp_path, cube: np.ndarray, **extra) -> Path:
    """A .mat file laid out as Zhu's unmixing benchmarks ship (Jasper Ridge, Samson, Urban):
    `Y` (bands x pixels) with the pixels in MATLAB's column-major order, `nRow`, `nCol`,
    `nBand` and `maxValue` scalars, and an abundance cube beside it."""
    from scipy.io import savemat

    rows, cols, bands = cube.shape
    y = cube.transpose(2, 1, 0).reshape(bands, rows * cols)  # pixel p: row p % rows
    path = tmp_path / "jasper_like.mat"
    savemat(path, {"Y": y, "nRow": np.array([[rows]]), "nCol": np.array([[cols]]),
                   "nBand": np.array([[bands]]), "maxValue": np.array([[y.max()]]), **extra})
    return path


def test_a_bands_by_pixels_matrix_opens_as_the_image_with_the_file_shape(tmp_path) -> None:
    cube = smooth_cube(5, 7, 6, seed=3)
    path = _jasper_like(tmp_path, cube)
    with open_scene(path) as scene:  # Y is the only array that fits nRow x nCol
        assert scene.shape == (5, 7, 6)
        np.testing.assert_allclose(scene.read(), cube, rtol=1e-6)
        described = scene.describe()
    assert described["variable"] == "Y"
    assert described["layout"]["axes"] == ["bands", "pixels"]
    assert described["layout"]["shape_from"] == "nRow and nCol in the file"
    assert described["layout"]["pixel_order"] == "column-major"
    assert "nRow (1 x 1)" in described["other_arrays"]


def test_shape_flag_and_pixel_order(tmp_path) -> None:
    from scipy.io import savemat

    cube = smooth_cube(4, 3, 5, seed=1)
    savemat(tmp_path / "m.mat", {"V": cube.reshape(12, 5)})  # row-major pixels x bands
    with pytest.raises(SceneError, match="give --shape LINES,SAMPLES"):
        open_scene(tmp_path / "m.mat")
    with open_scene(tmp_path / "m.mat", shape="4,3", pixel_order="row-major") as scene:
        np.testing.assert_allclose(scene.read(), cube, rtol=1e-6)
        assert scene.describe()["layout"]["axes"] == ["pixels", "bands"]
    with open_scene(tmp_path / "m.mat", shape="4,3") as scene:  # MATLAB's order by default
        assert not np.allclose(scene.read(), cube)
    np.save(tmp_path / "m.npy", cube.reshape(12, 5).T)  # bands x pixels, NumPy's order
    with open_scene(tmp_path / "m.npy", shape="4,3") as scene:
        np.testing.assert_allclose(scene.read(), cube, rtol=1e-6)
    with pytest.raises(SceneError, match="neither axis of the 5 x 12 matrix holds the 10"):
        open_scene(tmp_path / "m.npy", shape="5,2")


def test_a_square_matrix_needs_the_band_count_or_a_layout(tmp_path) -> None:
    cube = smooth_cube(2, 2, 4, seed=2)
    np.save(tmp_path / "sq.npy", cube.reshape(4, 4))  # 4 pixels x 4 bands
    with pytest.raises(SceneError, match=r"both axes .* --layout bands,pixels"):
        open_scene(tmp_path / "sq.npy", shape="2,2")
    with open_scene(tmp_path / "sq.npy", shape="2,2", layout="pixels,bands") as scene:
        np.testing.assert_allclose(scene.read(), cube, rtol=1e-6)
    with open_scene(tmp_path / "sq.npy", shape="2,2",
                    wavelengths="400,500,600,700") as scene:  # 4 listed: either fits
        assert scene.describe()["layout"]["axes"] == ["pixels", "bands"]


def test_more_than_one_plausible_image_is_refused_with_the_list(tmp_path) -> None:
    cube = smooth_cube(5, 7, 6, seed=3)
    abundances = np.ones((5, 7, 3))
    path = _jasper_like(tmp_path, cube, A_VCA=abundances)
    with pytest.raises(SceneError, match=r"2 arrays could be the image: .*Y \(6 x 35\).*"
                                         r"A_VCA \(5 x 7 x 3\); name one with --variable"):
        open_scene(path)
    with open_scene(path, variable="Y") as scene:
        assert scene.count == 6
    with open_scene(path, variable="A_VCA") as scene:
        assert scene.count == 3 and scene.describe()["variable"] == "A_VCA"
    with pytest.raises(SceneError, match=r"--variable Z: .* no numeric array of that name"):
        open_scene(path, variable="Z")


def test_cube_layouts_and_refused_array_options(tmp_path) -> None:
    cube = smooth_cube(3, 4, 5)
    np.save(tmp_path / "bsq.npy", np.transpose(cube, (2, 0, 1)))
    with open_scene(tmp_path / "bsq.npy", layout="bands,rows,cols") as scene:
        np.testing.assert_array_equal(scene.read(), cube)
    with pytest.raises(SceneError, match=r"--variable x: .* is a .npy file"):
        open_scene(tmp_path / "bsq.npy", variable="x")
    with pytest.raises(SceneError, match=r"--pixel-order: .* is a 3-D array"):
        open_scene(tmp_path / "bsq.npy", pixel_order="row-major")
    with pytest.raises(SceneError, match=r"--shape 9,9: .* already an image of 3 x 4"):
        open_scene(tmp_path / "bsq.npy", shape="9,9", layout="bands,rows,cols")


def test_array_options_are_refused_for_other_formats(tmp_path) -> None:
    from tests.conftest import write_envi

    header = write_envi(tmp_path / "s.img", smooth_cube(3, 3, 4))
    with pytest.raises(SceneError, match=r"--shape 3,3: applies to .mat and .npy arrays"):
        open_scene(header, shape="3,3")
