"""The `boltz predict` command line, parsed by the installed Boltz's own click command: every
model setting and runtime option reaches Boltz with the configured value."""

from __future__ import annotations

from pathlib import Path

from boltz.main import predict as boltz_predict

from omtx_hub.config import Model, Runtime
from omtx_hub.keys import ENGINE_FIELDS
from omtx_hub.predict import boltz_arguments, resolve_accelerator, structure_file_name

# Model fields that are not Boltz options: `affinity` decides whether the input YAML asks for
# an affinity (omtx_hub.boltz_io.write_input); `replicates` how many shards, each with its own
# `--seed` (omtx_hub.plan, tests/unit/test_replicates.py); the engine and Chai-1's own
# settings (omtx_hub.keys.ENGINE_FIELDS, docs/engines.md).
NOT_BOLTZ_OPTIONS = {"affinity", "replicates", *ENGINE_FIELDS}


def parsed(model: Model, runtime: Runtime, tmp_path: Path) -> tuple[list[str], dict]:
    inputs = tmp_path / "inputs"
    inputs.mkdir(exist_ok=True)
    arguments = boltz_arguments(model, runtime, inputs, tmp_path / "out")
    assert arguments[1:3] == ["-m", "omtx_hub.boltz_launcher"]
    launcher_options = arguments[3 : arguments.index("predict")]
    context = boltz_predict.make_context("predict", arguments[arguments.index("predict") + 1 :])
    return launcher_options, context.params


def test_every_model_setting_reaches_boltz(tmp_path):
    model = Model(
        recycling_steps=4,
        sampling_steps=33,
        diffusion_samples=3,
        step_scale=1.7,
        max_parallel_samples=2,
        sampling_steps_affinity=44,
        diffusion_samples_affinity=6,
        affinity_mw_correction=True,
        use_potentials=True,
        seed=9,
    )
    _, params = parsed(model, Runtime(accelerator="cpu"), tmp_path)
    for field, value in model.model_dump().items():
        if field not in NOT_BOLTZ_OPTIONS:
            assert params[field] == value, field


def test_defaults_reach_boltz_and_unset_options_stay_boltz_defaults(tmp_path):
    launcher, params = parsed(
        Model(step_scale=None, seed=None), Runtime(accelerator="cpu"), tmp_path
    )
    assert launcher == []  # precision 'default': Boltz's own bf16-mixed
    assert params["seed"] is None
    assert params["step_scale"] is None  # Boltz picks its own default for its model
    assert (params["use_potentials"], params["affinity_mw_correction"]) == (False, False)
    assert params["checkpoint"] is None and params["affinity_checkpoint"] is None
    assert params["override"] is True and params["output_format"] == "mmcif"


def test_runtime_options_reach_boltz(tmp_path):
    checkpoint, affinity = tmp_path / "s.ckpt", tmp_path / "a.ckpt"
    checkpoint.write_bytes(b"s")
    affinity.write_bytes(b"a")
    runtime = Runtime(
        accelerator="cpu",
        devices=2,
        num_workers=5,
        use_kernels=False,
        precision="32",
        cache=str(tmp_path / "cache"),
        checkpoint=str(checkpoint),
        affinity_checkpoint=str(affinity),
    )
    launcher, params = parsed(Model(), runtime, tmp_path)
    assert launcher == ["--precision", "32"]
    assert (params["accelerator"], params["devices"], params["num_workers"]) == ("cpu", 2, 5)
    assert params["no_kernels"] is True
    assert params["cache"] == str(tmp_path / "cache")
    assert params["checkpoint"] == str(checkpoint)
    assert params["affinity_checkpoint"] == str(affinity)
    assert params["out_dir"] == str(tmp_path / "out")
    assert params["data"] == str(tmp_path / "inputs")


def test_kernels_are_used_unless_switched_off(tmp_path):
    _, params = parsed(Model(), Runtime(accelerator="cpu"), tmp_path)
    assert params["no_kernels"] is False


def test_an_explicit_cpu_is_kept():
    # The GPU cases (auto, gpu, a job given a GPU) are in test_accelerator.py.
    assert resolve_accelerator("cpu") == "cpu"


def test_structure_download_name():
    assert structure_file_name("s1", "P1", 3, "cpd_3-1a2b3c4d") == "s1_P1_3_cpd_3-1a2b3c4d.cif"
