"""The GeoTIFF pieces on their own: creation options, overview resampling, the PAM sidecar."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from phism_cli.io.geotiff import (
    cog_creation_options,
    geotiff_creation_options,
    overview_resampling,
    pam_xml,
    read_category_names,
    sidecar_path,
)
from phism_cli.io.rasters import RasterSpec


def spec(**extra: object) -> RasterSpec:
    return RasterSpec(height=4, width=4, channel_names=["a"], **extra)  # type: ignore[arg-type]


def test_user_options_win_over_phism_defaults() -> None:
    options = geotiff_creation_options(spec(creation_options={"COMPRESS": "LZW"}))
    assert options["COMPRESS"] == "LZW" and options["TILED"] == "NO"  # 4 x 4: one strip
    assert options["PREDICTOR"] == "3"  # float data
    assert "PREDICTOR" not in geotiff_creation_options(spec(dtype="uint8"))
    # with --cog they are the COG driver's options, not the tiled source's
    cog = spec(creation_options={"BLOCKSIZE": "512"}, cog=True)
    assert geotiff_creation_options(cog)["COMPRESS"] == "ZSTD"
    # the intermediate is band-interleaved: GDAL builds overviews a band at a time
    assert geotiff_creation_options(cog)["INTERLEAVE"] == "BAND"
    assert "BLOCKSIZE" not in geotiff_creation_options(cog)
    assert cog_creation_options(cog)["BLOCKSIZE"] == "512"


def test_blocks_are_never_larger_than_the_image() -> None:
    def layout(height: int, width: int, tile: int = 256) -> tuple[str, ...]:
        options = geotiff_creation_options(RasterSpec(height=height, width=width,
                                                      channel_names=["a"], tile_size=tile))
        return tuple(options.get(k, "") for k in ("TILED", "BLOCKXSIZE", "BLOCKYSIZE"))

    assert layout(1000, 1000) == ("YES", "256", "256")
    assert layout(86, 83) == ("YES", "64", "64")  # halved from 256: aligned with the tiles
    assert layout(20, 500) == ("YES", "16", "16")
    assert layout(8, 8) == ("NO", "", "8")  # one strip of the whole image
    assert layout(100, 100, tile=96) == ("YES", "96", "96")


def test_overviews_average_values_and_keep_classes() -> None:
    assert overview_resampling(spec()) == "AVERAGE"
    assert overview_resampling(spec(dtype="uint8")) == "MODE"
    assert overview_resampling(spec(category_names={1: "water"})) == "MODE"


def test_pam_document_names_every_value_up_to_the_largest(tmp_path) -> None:
    text = pam_xml({1: "water", 4: "bare soil"}, {1: (0, 0, 255), 4: (200, 150, 0, 255)})
    band = ET.fromstring(text).find("PAMRasterBand")
    assert band is not None and band.get("band") == "1"
    assert [c.text or "" for c in band.iter("Category")] == ["", "water", "", "", "bare soil"]
    rows = [[f.text for f in row] for row in band.iter("Row")]
    assert rows == [["1", "water", "0", "0", "255", "255"],
                    ["4", "bare soil", "200", "150", "0", "255"]]
    path = tmp_path / "c.tif"
    sidecar_path(path).write_text(text)
    assert read_category_names(path) == {1: "water", 4: "bare soil"}
    assert read_category_names(tmp_path / "other.tif") is None
