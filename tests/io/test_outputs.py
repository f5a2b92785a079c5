import os
import subprocess
import sys
import textwrap
import threading

import pytest

from phism_cli.errors import OutputBusyError, OutputExistsError, PhismError
from phism_cli.io.outputs import OutputSet, _read_holder, is_partial_name, writer_tag


def _is_ours(path) -> bool:
    return (path / "phism.txt").exists()


def test_failed_write_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError), OutputSet() as outputs:
        out = outputs.add(target)
        out.tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_success_renames_into_place_and_drops_the_lock(tmp_path) -> None:
    with OutputSet() as outputs:
        a, b = outputs.add(tmp_path / "a.tif"), outputs.add(tmp_path / "b.zarr")
        assert is_partial_name(a.tmp) and writer_tag() in a.tmp.name
        assert (tmp_path / ".a.tif.lock").exists()
        a.tmp.write_text("a")
        b.tmp.mkdir()
        (b.tmp / "chunk").write_text("b")
        assert not (tmp_path / "a.tif").exists()  # nothing visible before the commit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.zarr"]
    assert (tmp_path / "b.zarr" / "chunk").read_text() == "b"


def test_overwrite_replaces_only_recognised_outputs(tmp_path) -> None:
    ours, theirs = tmp_path / "ours.zarr", tmp_path / "theirs.zarr"
    for folder in (ours, theirs):
        folder.mkdir()
    (ours / "phism.txt").write_text("old")
    (theirs / "thesis.tex").write_text("precious")
    with pytest.raises(OutputExistsError, match="--overwrite"), OutputSet() as outputs:
        outputs.add(ours, recognise=_is_ours)
    with pytest.raises(OutputExistsError, match="phism did not write"), \
            OutputSet(overwrite=True) as outputs:
        outputs.add(theirs, recognise=_is_ours)
    assert (theirs / "thesis.tex").read_text() == "precious"
    with OutputSet(overwrite=True) as outputs:
        out = outputs.add(ours, recognise=_is_ours)
        out.tmp.mkdir()
        (out.tmp / "new").write_text("new")
    assert sorted(p.name for p in ours.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.zarr", "theirs.zarr"]


def test_links_are_never_written_through(tmp_path) -> None:
    target = tmp_path / "real.tif"
    target.write_text("precious")
    link = tmp_path / "link.tif"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.tif"
    dangling.symlink_to(tmp_path / "nowhere.tif")
    for path in (link, dangling):
        with pytest.raises(OutputExistsError, match="symbolic link"), \
                OutputSet(overwrite=True) as outputs:
            outputs.add(path, recognise=lambda p: True)
    assert target.read_text() == "precious" and not (tmp_path / "nowhere.tif").exists()


def test_an_input_is_never_an_output(tmp_path) -> None:
    scene = tmp_path / "scene.tif"
    scene.write_text("data")
    with pytest.raises(PhismError, match="also an input"), \
            OutputSet(overwrite=True, inputs=[scene]) as outputs:
        outputs.add(tmp_path / "." / "scene.tif", recognise=lambda p: True)
    assert scene.read_text() == "data"


def test_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path) -> None:
    target = tmp_path / "out.tif"
    with OutputSet() as first:
        out = first.add(target)
        with pytest.raises(OutputBusyError, match=f"pid {os.getpid()}"), OutputSet() as second:
            second.add(target)
        out.tmp.write_text("first")
    assert target.read_text() == "first"


def test_stale_partials_of_dead_writers_are_removed(tmp_path) -> None:
    stale_file = tmp_path / ".out.zarr.partial-deadhost-999999-0123abcd"
    stale_file.mkdir()
    (stale_file / "chunk").write_text("half")
    trash = tmp_path / ".out.zarr.old-deadhost-999999-0123abcd"
    trash.write_text("old")
    other = tmp_path / ".other.zarr.partial-deadhost-999999-0123abcd"
    other.write_text("someone else's output")
    said = []
    with OutputSet(announce=said.append) as outputs:
        out = outputs.add(tmp_path / "out.zarr")
        out.tmp.mkdir()
    assert not stale_file.exists() and not trash.exists() and other.exists()
    assert len(said) == 2 and "deadhost-999999" in said[0]


def test_lock_of_a_killed_writer_does_not_block(tmp_path) -> None:
    """flock dies with its process: a writer killed by SIGKILL leaves a lock file and a
    partial output; the next writer proceeds and clears both."""
    target = tmp_path / "out.tif"
    script = textwrap.dedent(f"""
        import os, signal
        from phism_cli.io.outputs import OutputSet
        outputs = OutputSet()
        out = outputs.add({str(target)!r})
        out.tmp.write_text("half")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    assert (tmp_path / ".out.tif.lock").exists()
    assert any(p.name.startswith(".out.tif.partial-") for p in tmp_path.iterdir())
    with OutputSet() as outputs:
        outputs.add(target).tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_unwritable_folder_is_found_before_work(tmp_path) -> None:
    if os.access("/sys", os.W_OK) and os.geteuid() != 0:
        pytest.skip("/sys is writable here")
    with pytest.raises(PhismError, match="cannot create files"), OutputSet() as outputs:
        outputs.add("/sys/out.tif")
    with pytest.raises(PhismError, match="not a folder"), OutputSet() as outputs:
        (tmp_path / "file").write_text("x")
        outputs.add(tmp_path / "file" / "out.tif")
    with pytest.raises(PhismError, match="does not exist"), OutputSet() as outputs:
        outputs.add(tmp_path / "missing" / "out.tif")


def test_a_holder_still_writing_its_line_is_waited_for(tmp_path):
    """The lock's holder writes its line just after taking the lock: a reader that comes in
    between reads again instead of calling the holder unknown."""
    lock = tmp_path / ".out.zarr.lock"
    lock.write_bytes(b"")
    fd = os.open(lock, os.O_RDONLY)
    try:
        writer = threading.Timer(0.1, lock.write_text, args=("pid 123 on host since now\n",))
        writer.start()
        assert _read_holder(fd, tries=40, wait_s=0.05) == "pid 123 on host since now"
        writer.join()
    finally:
        os.close(fd)


def test_an_empty_lock_file_names_no_holder(tmp_path):
    lock = tmp_path / ".out.zarr.lock"
    lock.write_bytes(b"")
    fd = os.open(lock, os.O_RDONLY)
    try:
        assert _read_holder(fd, tries=2, wait_s=0.01) == "holder unknown"
    finally:
        os.close(fd)
