"""EnMAP L2A products: `<id>-SPECTRAL_IMAGE.TIF` (or the ENVI/JPEG2000 delivery of it) read
through GDAL, band centres, widths, gains and offsets from `<id>-METADATA.XML`.

Structure (DLR's EnMAP Level 2A product specification, as read by the EnMAP-Box and EnPT):
the XML root `level_X` holds `specific/bandCharacterisation/bandID[@number]` with
`wavelengthCenterOfBand`, `FWHMOfBand` (nm), `GainOfBand` and `OffsetOfBand` (value = DN *
gain + offset); `specific/vnirProductQuality/expectedChannelsList` and the SWIR one list the
bands that hold data (the others are filled with nodata, and marked bad here). Either file
of the pair may be given.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from phism_cli.errors import SceneError, note
from phism_cli.io.raster import RasterioScene
from phism_cli.io.scene import BandInfo, OpenRequest, SceneFormat

METADATA_SUFFIX = "-METADATA.XML"
IMAGE_STEM = "-SPECTRAL_IMAGE"
IMAGE_SUFFIXES = (".TIF", ".TIFF", ".BSQ", ".BIL", ".BIP", ".JP2")
_MAX_XML_BYTES = 64 << 20
_QUALITY = ("vnirProductQuality", "swirProductQuality")


def product_pair(path: Path) -> tuple[Path, Path] | None:
    """(spectral image, metadata XML) when `path` is either file of an EnMAP product."""
    name = path.name.upper()
    if name.endswith(METADATA_SUFFIX):
        prefix = path.name[: -len(METADATA_SUFFIX)]
        images = [p for p in path.parent.glob(f"{prefix}*")
                  if p.name.upper() in {f"{prefix.upper()}{IMAGE_STEM}{s}"
                                        for s in IMAGE_SUFFIXES}]
        return (sorted(images)[0], path) if images else (path.with_name(
            f"{prefix}{IMAGE_STEM}.TIF"), path)
    stem, suffix = Path(name).stem, Path(name).suffix
    if suffix in IMAGE_SUFFIXES and stem.endswith(IMAGE_STEM):
        prefix = path.name[: len(stem) - len(IMAGE_STEM)]
        metadata = [p for p in path.parent.glob(f"{prefix}*")
                    if p.name.upper() == f"{prefix.upper()}{METADATA_SUFFIX}"]
        if metadata:
            return path, metadata[0]
    return None


def is_enmap(path: Path) -> bool:
    return path.is_file() and product_pair(path) is not None


class EnmapScene(RasterioScene):
    def __init__(self, image: Path, metadata: Path, request: OpenRequest) -> None:
        if not image.is_file():
            raise SceneError(f"{metadata}: no spectral image {image.name} beside it; an EnMAP "
                             "L2A product needs both files (L1B/L1C products, with separate "
                             "VNIR and SWIR images, are not read)")
        super().__init__(image, keep_bad_bands=request.keep_bad_bands)
        self.metadata_path = metadata
        try:
            self._apply_metadata(request)
        except BaseException:
            self.close()
            raise
        self.format = "EnMAP L2A"

    @property
    def source_files(self) -> list[Path]:
        return [self.path, self.metadata_path]

    def _apply_metadata(self, request: OpenRequest) -> None:
        root = _parse(self.metadata_path)
        n = len(self.bands.good)
        entries = root.findall("specific/bandCharacterisation/bandID")
        numbers = [entry.get("number", "") for entry in entries]
        if sorted(numbers, key=lambda v: int(v) if v.isdigit() else -1) != \
                [str(i) for i in range(1, n + 1)]:
            raise SceneError(f"{self.metadata_path}: specific/bandCharacterisation has "
                             f"{len(entries)} bandID entries numbered "
                             f"{_shown(numbers)} for the {n} bands of {self.path.name}; the "
                             "metadata does not belong to this image")
        entries.sort(key=lambda entry: int(entry.get("number", "0")))
        fields = {tag: np.array([self._value(e, tag) for e in entries])
                  for tag in ("wavelengthCenterOfBand", "FWHMOfBand", "GainOfBand",
                              "OffsetOfBand")}
        gain, offset = fields["GainOfBand"], fields["OffsetOfBand"]
        if (gain <= 0).any():
            band = int(np.argmax(gain <= 0)) + 1
            raise SceneError(f"{self.metadata_path}: GainOfBand of band {band} is "
                             f"{gain[band - 1]}; it must be positive (the metadata is damaged)")
        if np.any(np.asarray(self.scale) != 1.0) or np.any(np.asarray(self.offset) != 0.0):
            raise SceneError(f"{self.path}: the image has its own scale or offset and "
                             f"{self.metadata_path.name} gives gains; only one may apply "
                             "(the product has been altered)")
        self.scale = float(gain[0]) if np.all(gain == gain[0]) else gain
        self.offset = float(offset[0]) if np.all(offset == offset[0]) else offset
        good = self.bands.good & self._bands_with_data(root, n)
        if request.ignore_wavelengths:
            self.bands = BandInfo(None, None, good, self.bands.names)
        else:
            self.bands = BandInfo(fields["wavelengthCenterOfBand"], fields["FWHMOfBand"],
                                  good, self.bands.names)

    def _value(self, entry: ElementTree.Element, tag: str) -> float:
        text = entry.findtext(tag)
        try:
            value = float(text) if text is not None else float("nan")
        except ValueError:
            value = float("nan")
        if not np.isfinite(value):
            raise SceneError(f"{self.metadata_path}: bandID {entry.get('number')} {tag} is "
                             f"{text!r}, not a finite number; the metadata is damaged")
        return value

    def _bands_with_data(self, root: ElementTree.Element, n: int) -> np.ndarray:
        """The VNIR and SWIR expected-channel lists as one mask (all True when absent or when
        they do not number the product's bands 1..n without overlap, which is said)."""
        lists = []
        for quality in _QUALITY:
            text = root.findtext(f"specific/{quality}/expectedChannelsList")
            if text is None:
                return np.ones(n, dtype=bool)
            try:
                lists.append({int(v) for v in text.replace(";", ",").split(",") if v.strip()})
            except ValueError:
                lists.append(set())
        vnir, swir = lists
        channels = vnir | swir
        if not channels or vnir & swir or min(channels) < 1 or max(channels) > n:
            note(f"{self.metadata_path}: the expected-channel lists do not number the {n} "
                 "bands; no band is marked bad from them (use --bad-bands)")
            return np.ones(n, dtype=bool)
        mask = np.zeros(n, dtype=bool)
        mask[np.asarray(sorted(channels)) - 1] = True
        return mask


def _parse(path: Path) -> ElementTree.Element:
    if path.stat().st_size > _MAX_XML_BYTES:
        raise SceneError(f"{path}: {path.stat().st_size} bytes, too large for an EnMAP "
                         "metadata file; give the product's METADATA.XML")
    try:
        return ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise SceneError(f"{path}: not well-formed XML ({exc}); the metadata is damaged, "
                         "download the product again") from None


def _shown(numbers: list[str]) -> str:
    return ", ".join(numbers[:5]) + (", ..." if len(numbers) > 5 else "") if numbers else "none"


def open_enmap(path: Path, request: OpenRequest) -> EnmapScene:
    pair = product_pair(path)
    if pair is None:
        raise SceneError(f"{path}: not an EnMAP product file (name it <id>-METADATA.XML or "
                         "<id>-SPECTRAL_IMAGE.TIF)")
    return EnmapScene(*pair, request)


FORMAT = SceneFormat("EnMAP L2A", is_enmap, open_enmap, files="EnMAP products")
