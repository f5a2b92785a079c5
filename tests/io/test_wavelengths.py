import numpy as np
import pytest

from phism_cli.io.wavelengths import (
    parse_wavelength_spec,
    wavelength_factor,
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


def test_stated_units_convert() -> None:
    assert wavelength_factor([0.4, 2.5], "Micrometers") == (1000.0, None)
    assert wavelength_factor([400.0, 2500.0], "nm") == (1.0, None)
    assert wavelength_factor([0.4, 2.5], "Nanometers", override="um") == (1000.0, None)


def test_unstated_units_are_read_from_the_values_and_said() -> None:
    factor, said = wavelength_factor([0.4, 2.5], None)
    assert factor == 1000.0 and "read as micrometres" in said and "0.4-2.5" in said
    assert wavelength_factor([8.0, 14.0], "Unknown")[0] == 1000.0  # thermal, in µm
    assert wavelength_factor([400.0, 2500.0], None) == (1.0, None)


@pytest.mark.parametrize(("values", "unit", "phrase"), [
    ([0.4, 2.5], "nm", "can only be micrometres"),
    ([400.0, 2500.0], "um", "can only be nanometres"),
    ([35.0, 90.0], None, "neither plausible nanometres nor micrometres"),
    ([0.4, 2.5], None, "can only be micrometres"),  # --wavelength-unit nm said so
])
def test_impossible_or_ambiguous_units_are_refused(values, unit, phrase) -> None:
    override = "nm" if unit is None and values[1] < 30 else None
    with pytest.raises(ValueError, match=phrase):
        wavelength_factor(values, unit, override)


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
