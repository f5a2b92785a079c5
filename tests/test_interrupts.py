"""Signals become `Interrupted`, except inside `held()`, which keeps them until it ends."""

from __future__ import annotations

import os
import signal
import time

import pytest

from phism_cli import interrupts


@pytest.fixture
def handlers():
    previous = interrupts.install()
    yield
    interrupts.restore(previous)


def _wait_for_delivery() -> None:
    for _ in range(100):
        time.sleep(0.001)


def test_signal_raises_interrupted_with_its_exit_code(handlers) -> None:
    with pytest.raises(interrupts.Interrupted) as caught:
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for_delivery()
    assert caught.value.exit_code == 143 and caught.value.name == "SIGTERM"


def test_held_block_finishes_before_the_signal(handlers) -> None:
    done = []
    with pytest.raises(interrupts.Interrupted) as caught, interrupts.held():
        os.kill(os.getpid(), signal.SIGHUP)
        _wait_for_delivery()
        done.append("renamed")
    assert done == ["renamed"] and caught.value.exit_code == 129


def test_second_signal_during_clean_up_is_ignored(handlers) -> None:
    with pytest.raises(interrupts.Interrupted):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            _wait_for_delivery()
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # during clean-up: no second exception
            _wait_for_delivery()


def test_ignored_signals_stay_ignored() -> None:
    """nohup ignores SIGHUP: phism must not turn it back on."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        previous = interrupts.install()
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is interrupts._handler
        interrupts.restore(previous)
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_swallowed_signal_still_stops_the_commit(tmp_path, capfd) -> None:
    """A signal whose exception is raised where Python ignores exceptions (a destructor, a
    weakref callback of the import machinery) must not let the command commit as if
    nothing came, nor print 'Exception ignored' on stderr."""
    import gc
    import signal as signals

    from phism_cli import interrupts
    from phism_cli.io.outputs import OutputSet

    class SignalledInDestructor:
        def __del__(self) -> None:
            interrupts._handler(signals.SIGINT, None)

    previous = interrupts.install()
    try:
        with pytest.raises(interrupts.Interrupted), OutputSet() as out:
            output = out.add(tmp_path / "out.txt")
            output.tmp.write_text("done")
            SignalledInDestructor()
            gc.collect()
    finally:
        interrupts.finishing()
        interrupts.restore(previous)
    assert not (tmp_path / "out.txt").exists() and not output.tmp.exists()
    assert "Exception ignored" not in capfd.readouterr().err


def test_a_signal_during_the_import_of_torch_is_raised_once_python_runs() -> None:
    """Raised inside torch's C++ start-up, the exception would abort the process (pybind11
    turns it into std::terminate); held, it comes as `Interrupted` from Python code."""
    import subprocess
    import sys

    script = (
        "import os, signal, threading, time\n"
        "from phism_cli import interrupts\n"
        "interrupts.install()\n"
        "threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "try:\n"
        "    import torch\n"
        "    time.sleep(2)\n"
        "except interrupts.Interrupted as exc:\n"
        "    print(exc.name)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=120)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, "SIGINT", "")


def test_the_import_of_a_native_package_runs_to_its_end_before_the_signal(
        handlers, tmp_path, monkeypatch) -> None:
    """The package's own top-level code signals itself half-way: it still runs to its last
    line (as torch's C++ start-up must), then the import raises `Interrupted`."""
    import sys

    package = tmp_path / "phism_native_stand_in"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os, signal, time\n"
        "STEPS = ['started']\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "for _ in range(100):\n"
        "    time.sleep(0.001)\n"
        "STEPS.append('finished')\n"
        "import builtins\n"
        "builtins.phism_native_steps = STEPS\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(interrupts, "NATIVE_PACKAGES", frozenset({package.name}), raising=False)
    with pytest.raises(interrupts.Interrupted) as caught:
        __import__(package.name)
    import builtins

    assert caught.value.name == "SIGTERM"
    assert builtins.phism_native_steps == ["started", "finished"]
    del builtins.phism_native_steps
    sys.modules.pop(package.name, None)
