"""Batch planning and bookkeeping: output names, clashes, per-scene outcomes, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from phism_cli.errors import OutputExistsError, PhismError
from phism_cli.pipeline.batch import (
    DONE,
    FAILED,
    SKIPPED,
    BatchRun,
    SceneJob,
    SceneResult,
    is_batch_output,
    plan_outputs,
    scene_stem,
)


@pytest.mark.parametrize(("name", "stem"), [("a.hdr", "a"), ("scene.v2.tif", "scene.v2"),
                                            ("cube.img.gz", "cube"), ("raw", "raw")])
def test_scene_stem(name, stem) -> None:
    assert scene_stem(Path(name)) == stem


def test_one_scene_named_as_a_file_is_not_a_batch(tmp_path) -> None:
    jobs = plan_outputs([tmp_path / "a.hdr"], tmp_path / "out.zarr", ".zarr")
    assert jobs == [SceneJob(tmp_path / "a.hdr", tmp_path / "out.zarr")]
    assert not is_batch_output(tmp_path / "out.zarr", 1)


def test_folder_output_names_each_scene_by_its_stem(tmp_path) -> None:
    scenes = [tmp_path / "x" / "a.hdr", tmp_path / "y" / "b.tif"]
    jobs = plan_outputs(scenes, tmp_path, ".zarr")
    assert [j.output for j in jobs] == [tmp_path / "a.zarr", tmp_path / "b.zarr"]
    assert [j.index for j in jobs] == [0, 1]
    # One scene and an existing folder: still one output per scene, inside it.
    assert plan_outputs(scenes[:1], tmp_path, ".zarr")[0].output == tmp_path / "a.zarr"


def test_template_fields(tmp_path) -> None:
    scenes = [tmp_path / "d1" / "a.hdr", tmp_path / "d2" / "a.hdr"]
    jobs = plan_outputs(scenes, Path(f"{tmp_path}/{{parent}}_{{stem}}_{{index}}.tif"), ".zarr")
    assert [j.output.name for j in jobs] == ["d1_a_0.tif", "d2_a_1.tif"]


def test_template_with_an_unknown_field_is_refused(tmp_path) -> None:
    with pytest.raises(PhismError, match=r"unknown field \{date\}"):
        plan_outputs([tmp_path / "a.hdr"], Path("{date}.zarr"), ".zarr")


def test_two_scenes_to_one_output_are_refused_before_work(tmp_path) -> None:
    scenes = [tmp_path / "d1" / "a.hdr", tmp_path / "d2" / "a.hdr"]
    with pytest.raises(PhismError, match="the output of both"):
        plan_outputs(scenes, tmp_path, ".zarr")


def test_many_scenes_need_a_folder_or_template(tmp_path) -> None:
    with pytest.raises(PhismError, match="need an existing folder or a template"):
        plan_outputs([tmp_path / "a.hdr", tmp_path / "b.hdr"], tmp_path / "out.zarr", ".zarr")


def test_an_output_that_is_an_input_is_refused(tmp_path) -> None:
    scenes = [tmp_path / "a.zarr", tmp_path / "b.hdr"]
    with pytest.raises(PhismError, match="is also an input"):
        plan_outputs(scenes, tmp_path, ".zarr")


def _job(i: int) -> SceneJob:
    return SceneJob(Path(f"s{i}.hdr"), Path(f"s{i}.zarr"), i)


def test_a_failing_scene_does_not_stop_the_batch() -> None:
    seen: list[SceneResult] = []
    run = BatchRun(on_result=seen.append)

    def work(job: SceneJob) -> dict:
        if job.index == 1:
            raise OutputExistsError(f"{job.output}: exists; pass --overwrite to replace it")
        return {"pixels": 4}

    for i in range(3):
        run.run(_job(i), work)
    assert [r.status for r in seen] == [DONE, FAILED, DONE]
    assert run.exit_code == 3  # the first failure's code: output exists
    summary = run.summary()
    assert (summary[DONE], summary[FAILED], summary[SKIPPED]) == (2, 1, 0)
    assert summary["results"][1]["error"].startswith("s1.zarr: exists")
    assert "2 done, 0 skipped, 1 failed of 3 scenes" in run.describe()


def test_fail_fast_raises_the_first_error() -> None:
    run = BatchRun(fail_fast=True)
    with pytest.raises(PhismError, match="broken"):
        run.run(_job(0), lambda job: (_ for _ in ()).throw(PhismError("broken")))


def test_unexpected_errors_become_one_line_failures() -> None:
    run = BatchRun()
    result = run.run(_job(0), lambda job: {}["missing"])
    assert result.status == FAILED and result.exit_code == 1
    assert result.error.startswith("unexpected KeyError")


def test_work_may_return_its_own_result() -> None:
    run = BatchRun()
    result = run.run(_job(0), lambda job: SceneResult(job, SKIPPED, {"reason": "exists"}))
    assert result.status == SKIPPED and run.exit_code == 0
    assert result.to_json() == {"input": "s0.hdr", "output": "s0.zarr", "status": SKIPPED,
                                "reason": "exists"}
