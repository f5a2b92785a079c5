"""A seeded fuzzer of ENVI headers: every mutated header is either refused cleanly (exit 1, one
line, nothing written) or encodes to exactly the latents of the unmutated header. Never a
traceback, a crash, another exit code, or a different output.

The mutations damage a header the way files get damaged (bytes inserted, lines cut, doubled,
swapped or broken, values made invalid) or change only its form (case, line ends, comments,
order). Two kinds of edit are left out because they make a *different valid header*, which no
reader can tell from a damaged one: inserting digits, signs, '.' or 'e' (another number), and
deleting the line of an optional field whose absence means something ('data ignore value',
'reflectance scale factor'). The fixture lists the layout fields last, so a header cut short
always loses a required field.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import zarr

from tests.cli.kit import header_text

N_MUTATIONS = 200
INSERTABLE = [c for c in "abcdfghjklmopqrstuvwxyzABCDFGHJKLMOPQRSTUVWXYZ"] + \
    [" ", "\t", ",", "{", "}", "=", '"', "#", "@", "/", "(", "µ", "\0", "\n", "\r"]
MEANINGFUL_OPTIONAL = ("data ignore value", "reflectance scale factor")
INVALID = {
    "samples": ["", "abc", "-1", "0", "1.5", "1e3", "nan", "99999999999999999999", "{8}"],
    "lines": ["", "x8", "-8", "0", "8.0", "inf", "{8, 8}"],
    "bands": ["", "twelve", "-12", "12.5", "0"],
    "data type": ["", "0", "6", "9", "17", "abc", "4.0", "-4"],
    "byte order": ["", "2", "-1", "big", "0.5", "{0}"],
    "header offset": ["", "-1", "abc", "1.5", "{0}"],
    "interleave": ["", "bxq", "bsqq", "1", "{bsq}"],
    "reflectance scale factor": ["", "0", "-1", "nan", "inf", "abc", "{1}", "1e999"],
    "data ignore value": ["", "abc", "{1}", "1,2", "--9999"],
}
INVALID_ITEMS = {"wavelength": ["", "abc", "nan", "inf", "-1", "0", "1e999"],
                 "fwhm": ["", "abc", "nan", "-10", "0"],
                 "bbl": ["2", "-1", "abc", "0.5", ""]}


def _key(line: str) -> str:
    return line.split("=")[0].strip().lower()


def delete_line(lines: list[str], rng: random.Random) -> list[str]:
    candidates = [i for i in range(1, len(lines)) if _key(lines[i]) not in MEANINGFUL_OPTIONAL]
    i = rng.choice(candidates)
    return lines[:i] + lines[i + 1:]


def duplicate_line(lines: list[str], rng: random.Random) -> list[str]:
    i = rng.randrange(1, len(lines))
    return [*lines[:i + 1], lines[i], *lines[i + 1:]]


def conflicting_duplicate(lines: list[str], rng: random.Random) -> list[str]:
    i = rng.randrange(1, len(lines))
    key = lines[i].split("=")[0].strip()
    return [*lines, f"{key} = conflicting value {rng.random()}"]


def garbage_line(lines: list[str], rng: random.Random) -> list[str]:
    junk = "".join(rng.choice("qwrtzpsdghkxcvbm !?") for _ in range(rng.randrange(1, 20)))
    i = rng.randrange(1, len(lines) + 1)
    return [*lines[:i], junk.strip() or "junk", *lines[i:]]


def insert_characters(lines: list[str], rng: random.Random) -> list[str]:
    text = "\n".join(lines)
    position = rng.randrange(0, len(text) + 1)
    inserted = "".join(rng.choice(INSERTABLE) for _ in range(rng.randrange(1, 4)))
    return (text[:position] + inserted + text[position:]).split("\n")


def truncate(lines: list[str], rng: random.Random) -> list[str]:
    text = "\n".join(lines)
    return text[:rng.randrange(0, len(text))].split("\n")


def swap_lines(lines: list[str], rng: random.Random) -> list[str]:
    i, j = rng.sample(range(1, len(lines)), 2)
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


def change_key_case(lines: list[str], rng: random.Random) -> list[str]:
    i = rng.randrange(1, len(lines))
    key, sep, value = lines[i].partition("=")
    return [*lines[:i], key.upper() + sep + value, *lines[i + 1:]]


def crlf(lines: list[str], rng: random.Random) -> list[str]:
    return [line + "\r" for line in lines]


def add_comment(lines: list[str], rng: random.Random) -> list[str]:
    i = rng.randrange(1, len(lines) + 1)
    return [*lines[:i], "; a comment = with { odd } characters", *lines[i:]]


def add_unknown_field(lines: list[str], rng: random.Random) -> list[str]:
    i = rng.randrange(1, len(lines) + 1)
    return [*lines[:i], f"vendor calibration {rng.randrange(99)} = {{1, 2, 3}}", *lines[i:]]


def invalid_value(lines: list[str], rng: random.Random) -> list[str]:
    key = rng.choice(sorted(INVALID))
    token = rng.choice(INVALID[key])
    return [f"{key} = {token}" if _key(line) == key else line for line in lines]


def invalid_item(lines: list[str], rng: random.Random) -> list[str]:
    key = rng.choice(sorted(INVALID_ITEMS))
    token = rng.choice(INVALID_ITEMS[key])
    out = []
    for line in lines:
        if _key(line) == key:
            items = line.split("{", 1)[1].rstrip("}").split(",")
            items[rng.randrange(len(items))] = token
            line = f"{key} = {{{', '.join(items)}}}"
        out.append(line)
    return out


OPERATORS = [delete_line, duplicate_line, conflicting_duplicate, garbage_line,
             insert_characters, insert_characters, insert_characters, truncate, swap_lines,
             change_key_case, crlf, add_comment, add_unknown_field, invalid_value,
             invalid_item]


def mutate(seed: int) -> tuple[str, str]:
    rng = random.Random(seed)
    operator = rng.choice(OPERATORS)
    lines = header_text().rstrip("\n").split("\n")
    return operator.__name__, "\n".join(operator(lines, rng)) + "\n"


def _latents(path) -> np.ndarray:
    return zarr.open_group(str(path), mode="r", zarr_format=2)["latent"][:]


@pytest.fixture(scope="module")
def reference(kit) -> np.ndarray:
    return _latents(kit.latents)


@pytest.mark.parametrize("seed", range(N_MUTATIONS))
def test_mutated_header_is_refused_or_read_identically(seed, kit, cli, reference,
                                                       tmp_path) -> None:
    operator, header = mutate(seed)
    scene = kit.scene(tmp_path, header=header)
    before = {p.name for p in tmp_path.iterdir()}
    output = tmp_path / "out.zarr"
    result = cli("encode", scene, "-o", output, "-m", kit.model, "-q")
    context = f"{operator} (seed {seed}):\n{header}\nstderr: {result.err}"
    assert "Traceback" not in result.err, context
    assert result.code in (0, 1), context
    if result.code == 0:
        assert result.err == "", context
        np.testing.assert_array_equal(_latents(output), reference, err_msg=context)
    else:
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("phism: error: "), context
        assert re.search(r"scene\.(hdr|img)", lines[0]), context  # names the file
        assert {p.name for p in tmp_path.iterdir()} == before, context


def test_the_fuzzer_reaches_both_outcomes(kit, cli, tmp_path) -> None:
    """A fuzzer whose mutations were all refused (or all harmless) would test little."""
    outcomes = set()
    for seed in range(40):
        folder = tmp_path / str(seed)
        folder.mkdir()
        scene = kit.scene(folder, header=mutate(seed)[1])
        outcomes.add(cli("encode", scene, "-o", folder / "o.zarr", "-m", kit.model,
                         "-q").code)
    assert outcomes == {0, 1}
