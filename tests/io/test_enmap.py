"""EnMAP L2A products: the spectral image through GDAL, bands and gains from METADATA.XML."""

from __future__ import annotations

import numpy as np
import pytest

from phism_cli.errors import SceneError
from phism_cli.io import open_scene
from tests.io.mission_files import enmap_xml, write_enmap

WAVELENGTHS = np.linspace(420.0, 2440.0, 6)


def _dn(bands: int = 6) -> np.ndarray:
    rng = np.random.default_rng(1)
    dn = rng.integers(1, 9000, size=(bands, 20, 18)).astype(np.int16)
    dn[:, 0, 0] = -32768
    return dn


@pytest.mark.parametrize("which", [0, 1])
def test_either_file_opens_the_product(tmp_path, which) -> None:
    dn = _dn()
    pair = write_enmap(tmp_path, dn, WAVELENGTHS)
    with open_scene(pair[which]) as scene:
        assert scene.format == "EnMAP L2A"
        assert scene.path == pair[0] and scene.source_files == list(pair)
        np.testing.assert_allclose(scene.wavelength_nm, WAVELENGTHS)
        assert scene.fwhm_nm == pytest.approx(np.full(6, 7.5))
        assert scene.scale == pytest.approx(1e-4) and scene.crs.to_epsg() == 32633
        block = scene.read()
    assert np.isnan(block[0, 0]).all()
    np.testing.assert_allclose(block[5, 7], dn[:, 5, 7] * 1e-4, rtol=1e-6)


def test_expected_channels_mark_the_others_bad(tmp_path) -> None:
    xml = enmap_xml(WAVELENGTHS, vnir="1,2,3", swir="5,6")
    with open_scene(write_enmap(tmp_path, _dn(), WAVELENGTHS, xml=xml)[1]) as scene:
        assert scene.bands.good.tolist() == [True, True, True, False, True, True]
        assert scene.count == 5


def test_channel_lists_numbered_per_detector_are_not_trusted(tmp_path) -> None:
    xml = enmap_xml(WAVELENGTHS, vnir="1,2,3", swir="1,2,3")
    with pytest.warns(match="the expected-channel lists do not number the 6 bands"), \
            open_scene(write_enmap(tmp_path, _dn(), WAVELENGTHS, xml=xml)[1]) as scene:
        assert scene.count == 6


@pytest.mark.parametrize(("xml", "message"), [
    (enmap_xml(WAVELENGTHS[:5]), r"5 bandID entries numbered 1, 2, 3, 4, 5 for the 6 bands"),
    (enmap_xml(WAVELENGTHS, gain=0.0), "GainOfBand of band 1 is 0.0; it must be positive"),
    (enmap_xml(WAVELENGTHS).replace("<FWHMOfBand>7.5", "<FWHMOfBand>wide", 1),
     r"bandID 1 FWHMOfBand is 'wide', not a finite number"),
    ("<level_X><specific>", "not well-formed XML"),
])
def test_bad_metadata_is_refused(tmp_path, xml, message) -> None:
    _, metadata = write_enmap(tmp_path, _dn(), WAVELENGTHS, xml=xml)
    with pytest.raises(SceneError, match=message):
        open_scene(metadata)


def test_metadata_without_its_image(tmp_path) -> None:
    image, metadata = write_enmap(tmp_path, _dn(), WAVELENGTHS)
    image.unlink()
    with pytest.raises(SceneError, match=r"no spectral image .*SPECTRAL_IMAGE\.TIF beside it"):
        open_scene(metadata)
