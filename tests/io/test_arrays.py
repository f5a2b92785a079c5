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
    with pytest.raises(SceneError, match="only 2-D ones \\(pan\\); name one with --variable"):
        ArrayScene(tmp_path / "only.mat")
