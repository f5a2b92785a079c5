import numpy as np
import pytest

from phism_cli.io.wavelengths import (
    parse_wavelength_spec,
    to_nanometres,
    wavelength_from_name,
    wavelengths_from_names,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("376.44 Nanometers", 376.44),
        ("band 1 (418.24 Nanometers)", 418.24),
        ("B8A 0.865 um", 865.0),
        ("450nm", 450.0),
        ("2.2 Micrometers", 2200.0),
        ("Band 7", None),
    ],
)
def test_wavelength_from_name(name: str, expected: float | None) -> None:
    got = wavelength_from_name(name)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_names_need_a_wavelength_for_every_band() -> None:
    assert wavelengths_from_names(["400 nm", "Band 2"]) is None
    np.testing.assert_allclose(wavelengths_from_names(["400 nm", "0.5 um"]), [400.0, 500.0])


def test_units_convert_and_guess_from_magnitude() -> None:
    np.testing.assert_allclose(to_nanometres([0.4, 2.5], "Micrometers"), [400.0, 2500.0])
    np.testing.assert_allclose(to_nanometres([0.4, 2.5], None), [400.0, 2500.0])
    np.testing.assert_allclose(to_nanometres([400.0, 2500.0], "Unknown"), [400.0, 2500.0])


def test_parse_wavelength_spec(tmp_path) -> None:
    np.testing.assert_allclose(parse_wavelength_spec("400:500", 3), [400, 450, 500])
    np.testing.assert_allclose(parse_wavelength_spec("400,410,430", 3), [400, 410, 430])
    listing = tmp_path / "wl.txt"
    listing.write_text("400\n410\n")
    np.testing.assert_allclose(parse_wavelength_spec(str(listing), 2), [400, 410])
    with pytest.raises(ValueError, match="3 wavelengths given for 2 bands"):
        parse_wavelength_spec("1,2,3", 2)


def test_a_long_list_of_values_is_not_taken_for_a_file_name() -> None:
    values = np.linspace(400.0, 2500.0, 300)
    spec = ",".join(f"{v:.3f}" for v in values)  # longer than any file name may be
    np.testing.assert_allclose(parse_wavelength_spec(spec, 300), values, atol=1e-3)
