"""A strict reader of ENVI header (.hdr) files, with errors that name the line and field.

`spectral` parses headers leniently (lines it cannot read are skipped, a key given twice keeps
its last value), which is right for browsing and wrong for a batch tool that must never turn
a damaged header into a silently wrong output. This reader accepts what ENVI writes (keys in
any case, `;` comments, `{...}` values over several lines, CRLF line ends) and refuses the
rest with one sentence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from phism_cli.errors import SceneError

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9 _./()\-]*$")
# Fields of the ENVI format (those phism reads and common others). A field that is not one of
# them but differs by a letter or two is refused as a likely misspelling: silently ignoring a
# damaged 'data ignore value' would turn nodata into data.
KNOWN_FIELDS = (
    "samples", "lines", "bands", "header offset", "file type", "data type", "interleave",
    "byte order", "wavelength", "wavelength units", "fwhm", "bbl", "data ignore value",
    "reflectance scale factor", "data gain values", "data offset values", "band names",
    "map info", "coordinate system string", "projection info", "class names",
    "class lookup", "classes", "description", "major frame offsets", "minor frame offsets",
    "spectra names", "x start", "y start", "sensor type", "default bands", "z plot titles",
    "z plot range", "pixel size", "data reflectance gain values",
    "data reflectance offset values", "acquisition time", "solar irradiance",
    "default stretch", "read procedures", "cloud cover", "sun azimuth", "sun elevation",
)
MAX_HEADER_BYTES = 64 * 1024 * 1024  # far above any real header; refuses binary mix-ups


@dataclass
class EnviHeader:
    """Header fields as text (lists for `{...}` values), keys lower case, with line numbers."""

    path: Path
    fields: dict[str, str | list[str]]
    lines: dict[str, int]

    def __contains__(self, key: str) -> bool:
        return key in self.fields

    def get(self, key: str) -> str | list[str] | None:
        return self.fields.get(key)

    def where(self, key: str) -> str:
        return f"{self.path}: ENVI header field '{key}' (line {self.lines[key]})"

    def text(self, key: str) -> str | None:
        """A scalar field's text; a `{...}` list is refused."""
        value = self.fields.get(key)
        if isinstance(value, list):
            raise SceneError(f"{self.where(key)} is a {{...}} list but must be a single value; "
                             "fix the header")
        return value

    def integer(self, key: str, minimum: int, default: int | None = None,
                allowed: tuple[int, ...] | None = None) -> int:
        text = self.text(key)
        if text is None or text == "":
            if default is not None:
                return default
            if text is None:
                raise SceneError(f"{self.path}: ENVI header has no '{key}' field; add it "
                                 f"(e.g. '{key} = {minimum}')")
            raise SceneError(f"{self.where(key)} is empty; give a whole number")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise SceneError(f"{self.where(key)} is {text!r}, not a whole number; fix the header")
        value = int(text)
        if allowed is not None and value not in allowed:
            raise SceneError(f"{self.where(key)} is {value} but must be one of "
                             f"{', '.join(map(str, allowed))}; fix the header")
        if value < minimum:
            raise SceneError(f"{self.where(key)} is {value} but must be at least {minimum}; "
                             "fix the header")
        return value

    def number(self, key: str, *, allow_nan: bool = False) -> float | None:
        """A scalar float field, None when absent; non-finite values are refused unless
        `allow_nan` (NaN only)."""
        text = self.text(key)
        if text is None:
            return None
        value = parse_number(text)
        if value is None:
            raise SceneError(f"{self.where(key)} is {text!r}, not a number; fix the header")
        if math.isnan(value) and allow_nan:
            return value
        if not math.isfinite(value):
            raise SceneError(f"{self.where(key)} is {text!r}, not a finite number; fix the "
                             "header")
        return value

    def numbers(self, key: str, count: int) -> list[float] | None:
        """A `{...}` list of `count` finite numbers, None when absent."""
        value = self.fields.get(key)
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if len(items) != count:
            raise SceneError(f"{self.where(key)} has {len(items)} values but the header "
                             f"declares {count} bands; fix the header (or pass "
                             "--ignore-wavelengths to do without wavelength and fwhm)")
        numbers = []
        for i, item in enumerate(items):
            parsed = parse_number(item)
            if parsed is None or not math.isfinite(parsed):
                raise SceneError(f"{self.where(key)}: value {i + 1} is {item!r}, not a finite "
                                 "number; fix the header")
            numbers.append(parsed)
        return numbers

    def strings(self, key: str) -> list[str]:
        value = self.fields.get(key)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


def parse_number(text: str) -> float | None:
    """A float from header text ('1e-4', ' 3 ', 'nan'); None if it is not one."""
    try:
        return float(text.strip())
    except ValueError:
        return None


def _decode(raw: bytes, path: Path) -> str:
    if b"\0" in raw:
        raise SceneError(f"{path}: not an ENVI header (it holds binary bytes); give the .hdr "
                         "text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # older headers write units such as 'µm' in Latin-1


def read_envi_header(path: Path) -> EnviHeader:
    """Parse `path`; raise `SceneError` naming the line for anything malformed."""
    try:
        size = path.stat().st_size
        if size > MAX_HEADER_BYTES:
            raise SceneError(f"{path}: {size} bytes is far too large for an ENVI header; give "
                             "the .hdr text file")
        raw = path.read_bytes()
    except OSError as exc:
        raise SceneError(f"{path}: cannot read the header ({exc.strerror})") from None
    lines = _decode(raw, path).splitlines()
    if not lines or lines[0].strip() != "ENVI":
        raise SceneError(f"{path}: not an ENVI header (its first line must be 'ENVI')")
    fields: dict[str, str | list[str]] = {}
    where: dict[str, int] = {}
    number = 1
    while number < len(lines):
        line = lines[number]
        number += 1
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        key, sep, value = stripped.partition("=")
        key = " ".join(key.split()).lower()
        if not sep or not _KEY.match(key):
            raise SceneError(f"{path}: line {number} of the ENVI header is {_quote(stripped)}, "
                             "not 'field = value'; fix or remove that line")
        start = number
        value = value.strip()
        parsed: str | list[str]
        if value.startswith("{"):
            text = value
            while not text.rstrip().endswith("}"):
                if "}" in text:
                    raise SceneError(f"{path}: line {number} of the ENVI header has text after "
                                     f"the '}}' closing field '{key}'; fix that line")
                if number >= len(lines):
                    raise SceneError(f"{path}: ENVI header field '{key}' (line {start}) opens "
                                     "'{' but never closes it; the header is cut short or "
                                     "damaged")
                text += "\n" + lines[number].strip()
                number += 1
            inner = text.strip()[1:-1]
            if "{" in inner or "}" in inner:
                raise SceneError(f"{path}: ENVI header field '{key}' (line {start}) has "
                                 "unbalanced braces; fix the header")
            parsed = inner.strip() if key == "description" else \
                [item.strip() for item in inner.split(",")] if inner.strip() else []
        else:
            if "}" in value:
                raise SceneError(f"{path}: line {start} of the ENVI header closes a '}}' it "
                                 f"never opened (field '{key}'); fix that line")
            if "=" in value:
                raise SceneError(f"{path}: line {start} of the ENVI header holds two '=' (field "
                                 f"'{key}'); two fields ran together or the line is damaged")
            parsed = value
        _check_not_misspelt(path, key, start)
        if key in fields and fields[key] != parsed:
            raise SceneError(f"{path}: ENVI header field '{key}' is given twice with different "
                             f"values (lines {where[key]} and {start}); keep one")
        fields[key] = parsed
        where.setdefault(key, start)
    return EnviHeader(path, fields, where)


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _check_not_misspelt(path: Path, key: str, line: int) -> None:
    """Refuse an unknown field one or two letters from a known one, or cut from one."""
    if key in KNOWN_FIELDS:
        return
    for known in KNOWN_FIELDS:
        limit = 1 if len(known) <= 6 else 2
        cut = len(key) >= 3 and known.startswith(key)
        if cut or _edit_distance(key, known, limit) <= limit:
            raise SceneError(f"{path}: line {line} of the ENVI header names field {key!r}, "
                             f"which looks like a damaged '{known}'; fix the field name")


def _quote(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
