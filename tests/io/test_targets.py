import numpy as np
import pytest

from phism_cli.errors import PhismError
from phism_cli.io.targets import normalise_id, read_targets


def test_read_targets_defaults_and_lookup(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("field,P,K\n1,10.5,3\n2.0,11,4\nabc,1,1\n")
    table = read_targets(path)
    assert table.ids == ["1", "2", "abc"] and table.names == ["P", "K"]
    found, values = table.lookup(["2", "9", "1"])
    assert found.tolist() == [0, 2]
    np.testing.assert_array_equal(values, [[11, 4], [10.5, 3]])
    assert read_targets(path, target_columns=["K"]).values[:, 0].tolist() == [3, 4, 1]


def test_targets_errors(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("field,P\n1,x\n")
    with pytest.raises(PhismError, match="line 2, column 'P'"):
        read_targets(path)
    path.write_text("field,P\n1,2\n1,3\n")
    with pytest.raises(PhismError, match="repeat"):
        read_targets(path)
    with pytest.raises(PhismError, match="no column 'Q'"):
        read_targets(path, target_columns=["Q"])


def test_normalise_id() -> None:
    assert [normalise_id(v) for v in ("12", "12.0", " 12 ", "a1", "1.5")] == \
        ["12", "12", "12", "a1", "1.5"]
