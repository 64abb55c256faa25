"""The grid: cells, their deterministic ids, and the sweep that reaches the same ids."""
from __future__ import annotations

import itertools

import pytest
from omegaconf import OmegaConf

import norms

from suite.config import compose_config, group_options
from suite.errors import UserError
from suite.study import grid
from suite.study.grid import expand_grid, sweep_overrides
from suite.study.profile import load_profile, profiles
from tests.suite.study.conftest import SMALL

# quick fixes the optimizer batch (data.batch_size) for its norm axis; on the optimizer axis it must not
OPTIMIZER_AXIS = ["axis=optimizer", "task_overrides.cls=['trainer.max_epochs=1']"]


def test_profiles_compose_and_expand_to_the_full_product():
    assert {"quick", "default", "paper"} <= set(profiles())
    for name in profiles():
        profile = load_profile(name)
        cells = [cell for cell in expand_grid(profile) if cell.table is None]  # the sweeps' cells come after
        expected = itertools.product(profile.tasks, profile.norms, sorted(profile.batch_sizes), profile.seeds)
        assert [(c.task, c.norm, c.batch_size, c.seed) for c in cells] == list(expected)
        assert len({cell.cell_id for cell in cells if cell.task == cells[0].task and cell.norm == cells[0].norm}) \
            == len(profile.batch_sizes) * len(profile.seeds)


def test_default_profile_is_the_issue_grid():
    profile = load_profile("default")
    assert list(profile.tasks) == ["cls", "nas", "adv", "fsl", "uda"]
    assert list(profile.norms)[:6] == ["bn", "gn", "ln", "in", "pn", "bgn"]
    assert set(profile.norms) == set(norms.available()) - {"none"}  # every norm that has landed
    assert list(profile.batch_sizes) == [2, 8, 32, 128] and list(profile.seeds) == [0, 1, 2]
    assert profile.study_id == "default" and profile.axis == "norm"
    cells = expand_grid(profile)
    sweep = [cell for cell in cells if cell.table is not None and not cell.table.startswith("cls:transfer")]
    tuning = [cell for cell in cells if cell.table == "cls:transfer"]  # fine-tuned from the cls cells at k = 128
    assert {cell.label.split()[0] for cell in tuning} == set(profile.norms) and {cell.stage for cell in tuning} == {1}
    # the BGN and GN group-count sweeps; gn + WS and bgn + WS beside the main rows' runs
    assert {cell.table for cell in sweep} == {"cls:bgn norm.num_groups", "cls:gn norm.num_groups",
                                              "cls:weight standardization"}
    for norm in ("gn", "bgn"):
        assert len({cell.label for cell in sweep if cell.table == f"cls:{norm} norm.num_groups"}) >= 3
        with_ws = [cell for cell in sweep if cell.label == f"{norm} + WS"]
        assert with_ws and all("model.weight_standardization=true" in cell.overrides() for cell in with_ws)
        assert compose_config(with_ws[0].overrides()).model.weight_standardization is True
        without = {cell.cell_id for cell in sweep if cell.label == f"{norm} without WS"}
        assert without == {cell.cell_id for cell in cells if cell.table is None and (cell.task, cell.norm) == ("cls", norm)}


def test_adding_sweeps_keeps_every_cell_id_of_the_smaller_profile():
    """A study resumed with a grown profile finds every cell it has (ids depend on a cell's own settings only):
    each prefix of the default profile's sweeps, down to none, gives a subset of the next one's runs."""
    profile = load_profile("default")
    entries = OmegaConf.to_container(profile.sweeps)
    earlier = set()
    for count in range(len(entries) + 1):
        profile.sweeps = entries[:count]
        ids = {cell.cell_id for cell in grid.runs(expand_grid(profile))}
        assert earlier < ids or (count and earlier == ids)  # a null-valued row adds no run
        earlier = ids


def test_per_sample_norms_run_once_per_seed_on_the_norm_axis():
    """gn (per sample: a ghost batch changes nothing) fills every k column from one run at the largest k;
    bn runs at every k. On the optimizer axis nothing is shared."""
    cells = expand_grid(load_profile("quick", ["norms=[bn,gn]", "batch_sizes=[2,8,32]", "seeds=[0,1]"]))
    gn = [cell for cell in cells if cell.norm == "gn"]
    assert {cell.batch_size for cell in gn} == {2, 8, 32}
    for seed in (0, 1):
        ids = {cell.cell_id for cell in gn if cell.seed == seed}
        assert len(ids) == 1 and "bs32-" in ids.pop()
    assert all("trainer.norm_batch_size=32" in cell.overrides() for cell in gn)
    bn = [cell for cell in cells if cell.norm == "bn"]
    assert len({cell.cell_id for cell in bn}) == len(bn)
    assert [(cell.norm, cell.cell_id) for cell in grid.runs(cells)] == \
        list(dict.fromkeys((cell.norm, cell.cell_id) for cell in cells))
    assert len(grid.runs(cells)) == 3 * 2 + 2  # bn: every k and seed; gn: one run per seed
    unshared = expand_grid(load_profile("quick", ["norms=[gn]", "share_per_sample=false"]))
    assert len({cell.cell_id for cell in unshared}) == len(unshared)


def test_each_sweep_group_is_a_product_inside_the_grid():
    """A Hydra sweep runs the product of its norms, batch sizes and seeds: every group's product must be
    runs of the grid, and the groups together every run once."""
    cells = grid.runs(expand_grid(load_profile("default", ["tasks=[cls]"])))
    groups = grid.sweep_groups(cells)
    ids = {(cell.norm, cell.cell_id) for cell in cells}
    assert sorted((cell.norm, cell.cell_id) for group in groups for cell in group) == sorted(ids)
    for group in groups:
        template = {item.split("=", 1)[0]: item.split("=", 1)[1] for item in sweep_overrides(group)}
        product = itertools.product(template["norm"].split(","), template["trainer.norm_batch_size"].split(","),
                                    template["seed"].split(","))
        by_run = {(cell.norm, str(cell.run_batch), str(cell.seed)) for cell in group}
        assert set(product) == by_run


def test_a_sweep_adds_a_table_of_one_norm_with_a_setting_varied():
    profile = load_profile("quick", ["norms=[bn]", "batch_sizes=[2]", "seeds=[0]",
                                     "sweeps=[{task: cls, norm: bgn, key: norm.num_groups, values: [1, 8]}]"])
    cells = expand_grid(profile)
    sweep = cells[1:]
    assert [(cell.table, cell.label) for cell in sweep] == [("cls:bgn norm.num_groups", "bgn num_groups=1"),
                                                           ("cls:bgn norm.num_groups", "bgn num_groups=8")]
    for cell, groups in zip(sweep, (1, 8)):
        cfg = compose_config(cell.overrides())
        assert cfg.norm.name == "bgn" and cfg.norm.num_groups == groups and cfg.run_id == cell.cell_id
    assert len({cell.cell_id for cell in cells}) == 3
    with pytest.raises(UserError, match="needs task, norm, key and values"):
        expand_grid(load_profile("quick", ["sweeps=[{task: cls, norm: bgn}]"]))
    with pytest.raises(UserError, match="2 values but 1 labels: give one label per value"):
        expand_grid(load_profile("quick", ["sweeps=[{task: cls, norm: bgn, key: norm.num_groups, values: [1, 2],"
                                           " labels: [one]}]"]))


def test_cell_ids_are_deterministic_and_change_with_the_settings():
    first = expand_grid(load_profile("quick"))
    again = expand_grid(load_profile("quick"))
    longer = expand_grid(load_profile("quick", ["task_overrides.cls=['trainer.max_epochs=3']"]))
    assert [c.cell_id for c in first] == [c.cell_id for c in again]
    assert not {c.cell_id for c in first} & {c.cell_id for c in longer}


def test_unknown_profile_is_a_one_line_error():
    with pytest.raises(UserError, match="profile= one of"):
        load_profile("nope")


@pytest.mark.parametrize("task", group_options("task"))
def test_cells_set_the_batch_axis_their_task_config_declares(task):
    cell = expand_grid(load_profile("default_optimizer", [f"tasks=[{task}]"]))[0]
    declared = compose_config([f"task={task}"]).task.batch_axis
    assert cell.batch_axis == declared and f"{declared}={cell.batch_size}" in cell.overrides()


def test_a_task_config_without_batch_axis_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(grid, "compose_config", lambda overrides: OmegaConf.create({"task": {"name": "cls"}}))
    with pytest.raises(UserError, match="declares no batch_axis"):
        expand_grid(load_profile("quick", [*OPTIMIZER_AXIS]))


def test_the_norm_axis_sets_the_normalization_batch_and_nothing_else():
    cells = expand_grid(load_profile("quick"))
    assert {cell.batch_axis for cell in cells} == {"trainer.norm_batch_size"}
    assert all(f"trainer.norm_batch_size={cell.run_batch}" in cell.overrides() for cell in cells)
    assert all(cell.run_batch == cell.batch_size for cell in cells if cell.norm != "gn")
    assert all("data.batch_size=32" in cell.overrides() for cell in cells)  # the optimizer batch stays fixed
    with pytest.raises(UserError, match="axis must be one of"):
        expand_grid(load_profile("quick", ["axis=both"]))
    with pytest.raises(UserError, match="remove data.batch_size=32 from task_overrides.cls"):
        expand_grid(load_profile("quick", ["axis=optimizer"]))


def test_the_swept_run_id_resolves_to_each_cells_id():
    """Compose each cell the way the sweep's job does (the sweep's fixed overrides plus one
    value per swept key) and check Hydra resolves run_id to the id the runner expects."""
    cells = expand_grid(load_profile("quick", ["batch_sizes=[2,8]", "seeds=[0,3]", *OPTIMIZER_AXIS]))
    template = {item.split("=", 1)[0]: item.split("=", 1)[1] for item in sweep_overrides(cells)}
    assert template["norm"] == "bn,gn,bgn" and template["data.batch_size"] == "2,8"
    for cell in cells:
        chosen = {**template, "norm": cell.norm, "data.batch_size": str(cell.batch_size), "seed": str(cell.seed)}
        cfg = compose_config([f"{key}={value}" for key, value in chosen.items()])
        assert OmegaConf.select(cfg, "run_id") == cell.cell_id
        assert (cfg.norm.name, cfg.data.batch_size, cfg.seed) == (cell.norm, cell.batch_size, cell.seed)


@pytest.mark.parametrize("name", profiles())
def test_every_profile_cell_composes_for_every_task_with_a_config(name):
    """Generated from the profiles: a task's trimming keys must exist in its config (tasks
    whose configs/task/<task>.yaml is not written yet are recorded as failed at run time)."""
    seen = set()
    for cell in expand_grid(load_profile(name)):
        if cell.task in seen or cell.task not in group_options("task"):
            continue
        seen.add(cell.task)
        assert compose_config(cell.overrides()).run_id == cell.cell_id


def test_run_ids_are_unique_across_tasks_norms_batches_seeds_and_settings():
    """A cell's id is its W&B run id: no two runs of a grid may share one (bn, gn and bgn at the same
    batch size and seed did), and expanding again gives the same ids (a resumed study finds its runs)."""
    profile = load_profile("default")
    ids = [cell.cell_id for cell in grid.runs(expand_grid(profile))]
    assert len(ids) == len(set(ids))
    assert ids == [cell.cell_id for cell in grid.runs(expand_grid(load_profile("default")))]


TRANSFER = "transfer=[{task: cls, overrides: ['data=digits'], batch_sizes: [2], scratch: true}]"


GN_LR = "++norm_overrides={cls: {gn: ['task.optim.lr=0.3']}}"  # 0.3: no other norm's chosen lr


def test_a_norms_own_overrides_change_its_cells_and_no_others():
    """norm_overrides (a norm's learning rate chosen on validation) reach that norm's cells, sweeps included,
    and give them new ids; every other cell keeps its id."""
    plain, tuned = (expand_grid(load_profile("default", extra)) for extra in ([], [GN_LR]))
    assert len(plain) == len(tuned)
    for before, after in zip(plain, tuned):
        changed = (before.task, before.norm) == ("cls", "gn")
        assert (before.cell_id != after.cell_id) == changed, (before, after)
        assert ("task.optim.lr=0.3" in after.overrides()) == changed
    gn_cell = next(cell for cell in tuned if (cell.task, cell.norm) == ("cls", "gn"))
    assert compose_config(gn_cell.overrides()).task.optim.lr == 0.3


@pytest.mark.parametrize("name", profiles())
def test_a_profile_keeps_per_norm_settings_only_for_the_task_settings_they_were_chosen_at(name):
    """Generated from the profiles: norm_overrides were chosen on validation at the default profile's task
    settings, so a profile inheriting them must run those tasks with the same settings (quick, paper and
    default_optimizer shrink or change cls and set norm_overrides to null)."""
    profile, default = load_profile(name), load_profile("default")
    for task in (profile.get("norm_overrides") or {}):
        assert list(profile.task_overrides[task]) == list(default.task_overrides[task]), (name, task)


@pytest.mark.parametrize("extra", [[], [GN_LR]], ids=["same settings", "gn's own lr"])
def test_transfer_fine_tunes_from_the_pretraining_cells_run_directory(tmp_path, extra):
    """Pre-training is the task's own cell at the largest batch (the same run); each fine-tuning cell's
    model.init resolves to the run directory of the pre-training cell of its norm and seed, also when a
    norm's own overrides give its cells another digest."""
    profile = load_profile("quick", [*SMALL, TRANSFER, *extra])
    cells = expand_grid(profile)
    main = {(cell.norm, cell.seed): cell for cell in cells if cell.table is None and cell.batch_size == 32}
    pretraining = [cell for cell in cells if cell.table == "cls:transfer, pre-training"]
    assert {(cell.norm, cell.seed, cell.cell_id, cell.label) for cell in pretraining} == \
        {(norm, seed, cell.cell_id, f"{norm} pre-training") for (norm, seed), cell in main.items()}
    tuning = [cell for cell in cells if cell.table == "cls:transfer"]
    assert sorted((cell.label, cell.batch_size, cell.seed) for cell in tuning) == sorted(
        (f"{norm} {start}", 2, seed) for norm in ("bn", "gn") for start in ("pre-trained", "from scratch")
        for seed in (0, 1, 2))
    runs_dir = tmp_path / "cells"
    for cell in tuning:
        cfg = compose_config([*cell.overrides(), f"paths.runs={runs_dir}"])
        assert cfg.data.name == "digits" and cfg.trainer.norm_batch_size == 2 and cell.stage == 1
        source = main[cell.norm, cell.seed].metrics_path(runs_dir).parent
        assert cfg.model.init == (str(source) if cell.label.endswith("pre-trained") else None)
    assert len({cell.cell_id for cell in grid.runs(cells)}) == 2 * 2 * 3 + 2 * 2 * 3  # main grid + fine-tuning
    groups = grid.sweep_groups(grid.runs(cells))
    stages = [group[0].stage for group in groups]
    assert stages == sorted(stages) and all(len({cell.stage for cell in group}) == 1 for group in groups)
    with pytest.raises(UserError, match="each entry of transfer needs task and overrides"):
        expand_grid(load_profile("quick", ["transfer=[{task: cls}]"]))
