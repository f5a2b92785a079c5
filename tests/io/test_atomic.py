import pytest

from phism_cli.errors import OutputExistsError
from phism_cli.io.atomic import atomic_output


def test_failed_write_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError), atomic_output(target, overwrite=False) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path) -> None:
    target = tmp_path / "out.zarr"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(OutputExistsError), atomic_output(target, overwrite=False):
        pass
    with atomic_output(target, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]
