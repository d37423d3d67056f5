"""The Chai-1 engine's side in the package (omtx_hub.chai1, model.engine: chai1), without the
Chai-1 environment: the config's refusals, Chai-1's keys (its settings, chai-lab's version and
the components' sha256), the plan stopping on missing downloads, the runner's shard file as the
runner itself reads it, and the records. The real runs are tests/workflow/test_chai1_screen.py
(marker chai1)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from omtx_hub import chai1
from omtx_hub.chai1_shard import Chai1ShardJob
from omtx_hub.config import ConfigError, load_config
from omtx_hub.keys import CHAI_LAB_VERSION
from omtx_hub.plan import build_plan
from omtx_hub.predict import ShardError
from omtx_hub.receptor import ReceptorSpec
from omtx_hub.records import TargetRecord
from omtx_hub.sheet import SheetError
from omtx_hub.store import LocalStore
from tests.screens import write_screen

REPO = Path(__file__).resolve().parents[2]
PROTEIN = {"name": "P1", "sequence": "MKTAYIAKQR", "msa": "empty"}
CHAI1 = {"engine": "chai1", "seed": 0}


def fake_downloads(folder: Path, *, component_bytes: bytes = b"component") -> Path:
    """A downloads folder with a non-empty file wherever the runner looks (not loadable: the
    plan only hashes them)."""
    runner = chai1.runner()
    names = ["conformers_v1.apkl", runner.ESM_FILE, *(f"models_v2/{c}" for c in runner.COMPONENTS)]
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(component_bytes + name.encode())
    return folder


def chai1_screen(tmp_path: Path, downloads: Path | None = None, **overrides) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = {**CHAI1, **overrides.pop("model", {})}
    runtime = {"chai1_downloads": str(downloads or fake_downloads(tmp_path / "downloads"))}
    return write_screen(
        tmp_path,
        proteins=[PROTEIN],
        model=model,
        runtime=runtime | overrides.pop("runtime", {}),
        **overrides,
    )


def keys_of(raw: dict) -> list[str]:
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    return [target.key for shard in plan.shards.values() for target in shard.targets]


def problems(raw: dict) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(raw)
    return str(error.value)


def test_a_chai1_screen_predicts_no_affinity_and_ranks_by_aggregate_score(tmp_path):
    config = load_config(chai1_screen(tmp_path))
    assert config.model.affinity is False
    assert config.rank_by == "aggregate_score"


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        ({"model": {"affinity": True}}, "model.affinity", "no affinity head"),
        ({"model": {"step_scale": 1.5}}, "model.step_scale", "Boltz-2 setting"),
        ({"model": {"use_potentials": True}}, "model.use_potentials", "Boltz-2 setting"),
        ({"report": {"rank_by": "confidence"}}, "report.rank_by", "aggregate_score"),
        ({"proteins": [{**PROTEIN, "msa": "server"}]}, "proteins[0].msa", "msa: empty"),
        (
            {"proteins": [{**PROTEIN, "pocket": {"residues": [["A", 3]]}}]},
            "proteins[0].pocket",
            "not passed to Chai-1",
        ),
        (
            {"proteins": [{**PROTEIN, "cofactors": [{"ccd": "HEM"}]}]},
            "proteins[0].cofactors",
            "not passed to Chai-1",
        ),
    ],
)
def test_what_chai1_cannot_do_is_refused_naming_the_key(tmp_path, overrides, key, words):
    raw = chai1_screen(tmp_path)
    for section, value in overrides.items():
        raw[section] = {**raw.get(section, {}), **value} if isinstance(value, dict) else value
    message = problems(raw)
    assert f"config key '{key}'" in message
    assert words in message
    assert "(model.engine: chai1)" in message


def test_chai1_keys_are_not_boltz2_keys_and_name_chai_lab_and_the_components(tmp_path):
    raw = chai1_screen(tmp_path)
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    spec = plan.spec
    assert spec["engine"] == "chai1"
    assert spec["chai_lab"] == CHAI_LAB_VERSION
    assert set(spec["weights"]) == set(chai1.runner().COMPONENTS)
    assert spec["model"] == {
        "num_trunk_recycles": 3,
        "num_diffn_timesteps": 200,
        "num_diffn_samples": 1,
        "use_esm_embeddings": True,
        "seed": 0,
    }
    assert plan.weights.released is True  # (no stand-ins marker)
    (tmp_path / "b").mkdir()
    boltz = keys_of(write_screen(tmp_path / "b", proteins=[PROTEIN], model={"affinity": False}))
    assert set(boltz).isdisjoint(keys_of(raw))


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("recycling_steps", 1),
        ("sampling_steps", 20),
        ("diffusion_samples", 2),
        ("seed", 7),
        ("use_esm_embeddings", False),
    ],
)
def test_every_chai1_setting_that_changes_a_prediction_changes_every_key(tmp_path, setting, value):
    base = keys_of(chai1_screen(tmp_path / "a"))
    changed = keys_of(chai1_screen(tmp_path / "b", model={setting: value}))
    assert set(base).isdisjoint(changed)


def test_the_components_bytes_change_every_key_and_where_they_are_or_the_python_does_not(
    tmp_path,
):
    base = keys_of(chai1_screen(tmp_path / "a"))
    elsewhere = fake_downloads(tmp_path / "elsewhere")
    moved = chai1_screen(tmp_path / "b", downloads=elsewhere, runtime={"chai1_python": "/x/py"})
    assert keys_of(moved) == base
    other = fake_downloads(tmp_path / "other", component_bytes=b"retrained")
    assert set(base).isdisjoint(keys_of(chai1_screen(tmp_path / "c", downloads=other)))


def test_missing_downloads_stop_the_plan_naming_each_url_and_the_key(tmp_path):
    downloads = fake_downloads(tmp_path / "downloads")
    (downloads / "models_v2" / "trunk.pt").unlink()
    config = load_config(chai1_screen(tmp_path, downloads=downloads))
    with pytest.raises(ConfigError) as error:
        build_plan(config, LocalStore(config.store))
    message = str(error.value)
    assert "config key 'runtime.chai1_downloads'" in message
    assert f"{chai1.runner().ASSETS_URL}/models_v2/trunk.pt -> {downloads}/models_v2/trunk.pt" in (
        message
    )
    assert "feature_embedding.pt" not in message


def test_no_downloads_folder_names_the_setting_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAI_DOWNLOADS_DIR", raising=False)
    raw = chai1_screen(tmp_path)
    raw["runtime"] = {}
    config = load_config(raw)
    with pytest.raises(ConfigError, match=r"runtime\.chai1_downloads.*\$CHAI_DOWNLOADS_DIR"):
        build_plan(config, LocalStore(config.store))


def test_a_ccd_row_is_refused_naming_its_line(tmp_path):
    raw = chai1_screen(tmp_path, rows=[("a", "CCO", ""), ("heme", "", "HEM")], extra_columns="ccd")
    config = load_config(raw)
    with pytest.raises(SheetError, match="line 3: a Chai-1 screen takes molecules by SMILES"):
        build_plan(config, LocalStore(config.store))


def test_the_pinned_chai_lab_is_the_environments():
    requirements = (REPO / "engines" / "chai1" / "requirements.txt").read_text()
    assert re.search(rf"^chai-lab=={re.escape(CHAI_LAB_VERSION)} ", requirements, re.M)


def test_the_shard_file_is_one_the_runner_reads(tmp_path):
    raw = chai1_screen(tmp_path, model={"recycling_steps": 2}, shard_size=5)
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    spec = plan.shard("P1", "00000")
    document = chai1.shard_document(
        spec.targets, config.protein("P1").receptor, spec.prediction, "cpu"
    )
    path = tmp_path / "shard.json"
    path.write_text(json.dumps(document))
    read = chai1.runner().read_shard(path)  # the runner's own check (ShardError if not)
    assert read["settings"]["num_trunk_recycles"] == 2
    assert [target["id"] for target in read["targets"]] == [t.key for t in spec.targets]
    assert read["targets"][0]["entities"] == [
        {"kind": "protein", "name": "A", "sequence": "MKTAYIAKQR"},
        {"kind": "ligand", "name": "LIG", "sequence": spec.targets[0].smiles},
    ]


def test_receptor_chains_are_entities_in_order_and_the_ligand_follows():
    receptor = ReceptorSpec.single_chain("MKT")
    assert chai1.ligand_chain(receptor) == "B"
    raw = {
        "screen": {"name": "s"},
        "ligands": "x.csv",
        "proteins": [
            {
                "name": "P",
                "chains": [
                    {"id": ["A", "B"], "sequence": "MKT", "msa": "empty"},
                    {"id": "D", "type": "dna", "sequence": "ACGT"},
                ],
            }
        ],
        "model": CHAI1,
    }
    receptor = load_config(raw).protein("P").receptor
    assert [(e["kind"], e["name"]) for e in chai1.entities(receptor, "CCO")] == [
        ("protein", "A"),
        ("protein", "B"),
        ("dna", "D"),
        ("ligand", "LIG"),
    ]
    assert chai1.ligand_chain(receptor) == "D"  # chai-lab letters the fourth entity D


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("RuntimeError: chai-lab could not build entities ['LIG'] (its log says why)", "permanent"),
        ("ValueError: Bad Conformer Id", "permanent"),
        ("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", "retryable"),
        ("OSError: [Errno 28] No space left on device", "retryable"),
    ],
)
def test_a_target_the_runner_failed_is_permanent_only_when_its_input_would_fail_again(error, kind):
    assert chai1.failure_kind_of(error) == kind


def test_a_record_before_engines_reads_and_a_boltz_record_writes_no_chai1_field():
    before = {
        "key": "k",
        "status": "completed",
        "confidence_score": 0.5,
        "weights": {"identity": "w", "released": True, "note": "n"},
    }
    record = TargetRecord.model_validate(before)
    assert record.engine is None and record.aggregate_score is None
    assert record.to_json() == before


def test_the_chai1_example_plans_with_weights_in_chai_downloads_dir(tmp_path, monkeypatch):
    """config/examples/chai1-screen.yaml, merged over config/config.yaml as Snakemake merges
    it, with its store here and the weights where $CHAI_DOWNLOADS_DIR says."""
    monkeypatch.setenv("CHAI_DOWNLOADS_DIR", str(fake_downloads(tmp_path / "downloads")))
    monkeypatch.chdir(REPO)
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(raw, yaml.safe_load((REPO / "config/examples/chai1-screen.yaml").read_text()))
    raw["store"] = str(tmp_path / "store")
    config = load_config(raw)
    plan = build_plan(config, LocalStore(config.store))
    assert plan.spec["engine"] == "chai1"
    assert plan.spec["model"]["num_diffn_samples"] == 5
    assert plan.target_count == 5


def test_components_changed_after_planning_stop_the_shard_before_it_predicts(tmp_path):
    downloads = fake_downloads(tmp_path / "downloads")
    config = load_config(chai1_screen(tmp_path, downloads=downloads))
    store = LocalStore(config.store)
    plan = build_plan(config, store)
    (downloads / "models_v2" / "trunk.pt").write_bytes(b"another trunk, refilled after planning")
    job = Chai1ShardJob(
        spec=plan.shard("P1", "00000"),
        receptor=config.protein("P1").receptor,
        msas={"A": "empty"},
        model=config.model,
        runtime=config.runtime,
        store=store,
        structures_dir=tmp_path / "structures",
        manifest=tmp_path / "manifest.json",
        log_file=tmp_path / "shard.log",
    )
    with pytest.raises(ShardError, match="not the ones the targets were keyed with"):
        job.run()
    assert not (tmp_path / "manifest.json").exists()
