from pathlib import Path

import pytest

import omtx_hub.plan as plan_module
from omtx_hub.boltz_cache import TEST_WEIGHTS_MARKER
from omtx_hub.config import load_config
from omtx_hub.config_files import merged_config_files
from omtx_hub.plan import build_plan
from omtx_hub.sheet import SheetError
from omtx_hub.store import LocalStore
from tests.screens import SMILES, write_screen


def make_config(tmp_path: Path, **kwargs) -> dict:
    kwargs.setdefault("proteins", [{"name": "P1", "sequence": "MKTAYIAKQR", "msa": "empty"}])
    return write_screen(tmp_path, **kwargs)


def plan_of(raw: dict):
    config = load_config(raw)
    return build_plan(config, LocalStore(config.store))


def keys(plan) -> list[str]:
    return [t.key for s in plan.shards.values() for t in s.targets]


def test_shards_are_consecutive_chunks_per_protein(tmp_path):
    raw = make_config(tmp_path)
    raw["proteins"].append({"name": "P2", "sequence": "GGGG", "msa": "empty"})
    plan = plan_of(raw)
    assert list(plan.shards) == [
        ("P1", "00000"),
        ("P1", "00001"),
        ("P1", "00002"),
        ("P2", "00000"),
        ("P2", "00001"),
        ("P2", "00002"),
    ]
    assert [t.smiles for t in plan.shard("P1", "00001").targets] == ["CCC", "c1ccccc1"]
    assert plan.target_count == 10


def test_same_compound_is_one_target_with_aliases(tmp_path):
    plan = plan_of(make_config(tmp_path, rows=[("a", "OCC"), ("b", "CCO"), ("c", "CCN")]))
    first = plan.shard("P1", "00000").targets[0]
    assert first.smiles == "CCO"
    assert [alias.name for alias in first.ligands] == ["a", "b"]
    assert plan.target_count == 2


def test_rows_of_one_compound_apart_in_the_sheet_are_its_target_in_any_shard(tmp_path):
    # The sheet's rows are regrouped by molecule once (omtx_hub.plan._Molecules): each shard's
    # targets still carry their own rows, in sheet order.
    rows = [("a", "OCC"), ("c", "CCN"), ("b", "CCO"), ("d", "CCC"), ("e", "NCC")]
    plan = plan_of(make_config(tmp_path, rows=rows, shard_size=1))
    targets = [target for name in plan.shards for target in plan.shard(*name).targets]
    assert [target.smiles for target in targets] == ["CCO", "CCN", "CCC"]
    assert [[(row.index, row.name) for row in target.ligands] for target in targets] == [
        [(1, "a"), (3, "b")],
        [(2, "c"), (5, "e")],
        [(4, "d")],
    ]
    assert list(plan.keys()) == [target.key for target in targets]
    assert [plan.shard_keys(*name) for name in plan.shards] == [[t.key] for t in targets]


def test_appending_ligands_keeps_earlier_shards(tmp_path):
    before = plan_of(make_config(tmp_path))
    rows = [(f"L{i}", s) for i, s in enumerate(SMILES)] + [("new", "CCCl")]
    after = plan_of(make_config(tmp_path, rows=rows))
    assert before.shard("P1", "00000") == after.shard("P1", "00000")
    assert before.shard("P1", "00001") == after.shard("P1", "00001")
    assert len(after.shard("P1", "00002").targets) == 2


def test_keys_shared_across_screens_and_orders(tmp_path):
    one = plan_of(make_config(tmp_path))
    other = make_config(tmp_path, rows=[("x", "CCN"), ("y", "OCC")], shard_size=7)
    other["screen"] = {"name": "another"}
    two = plan_of(other)
    assert set(keys(two)) <= set(keys(one))


@pytest.mark.parametrize(
    "change",
    [
        {"model": {"sampling_steps": 50}},
        {"model": {"seed": 1}},
        {"model": {"affinity": False}},
        {"runtime": {"precision": "32"}},
        {"proteins": [{"name": "P1", "sequence": "MKTAYIAKQK", "msa": "empty"}]},
    ],
)
def test_anything_that_changes_the_prediction_changes_the_key(tmp_path, change):
    base = set(keys(plan_of(make_config(tmp_path))))
    changed = set(keys(plan_of(make_config(tmp_path, **change))))
    assert base.isdisjoint(changed)


def test_runtime_settings_that_do_not_change_numbers_keep_keys(tmp_path):
    base = keys(plan_of(make_config(tmp_path)))
    same = keys(plan_of(make_config(tmp_path, runtime={"num_workers": 7, "devices": 2})))
    assert base == same


def test_msa_file_content_is_part_of_the_key(tmp_path):
    msa = tmp_path / "p1.a3m"
    msa.write_text(">query\nMKTAYIAKQR\n")
    protein = {"name": "P1", "sequence": "MKTAYIAKQR", "msa": str(msa)}
    first = keys(plan_of(make_config(tmp_path, proteins=[protein])))
    msa.write_text(">query\nMKTAYIAKQR\n>hit\nMKTAYIAKQK\n")
    assert set(first).isdisjoint(keys(plan_of(make_config(tmp_path, proteins=[protein]))))


def test_test_weights_are_flagged_and_keyed(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    released = plan_of(make_config(tmp_path, runtime={"cache": str(cache)}))
    assert released.weights.released
    (cache / TEST_WEIGHTS_MARKER).write_text("{}")
    for name in ("boltz2_conf.ckpt", "boltz2_aff.ckpt"):
        (cache / name).write_bytes(b"random " + name.encode())
    test = plan_of(make_config(tmp_path, runtime={"cache": str(cache)}))
    assert not test.weights.released
    assert "meaningless" in test.weights.note
    assert set(keys(released)).isdisjoint(keys(test))


def test_validated_sheet_is_cached_in_the_store(tmp_path, monkeypatch):
    raw = make_config(tmp_path)
    first = plan_of(raw)

    def fail(*args, **kwargs):
        raise AssertionError("the sheet was validated again")

    monkeypatch.setattr(plan_module, "validate_sheet", fail)
    second = plan_of(raw)
    assert keys(first) == keys(second)
    assert second.ligands.equals(first.ligands)


# A vendor's sheet as it comes: hydrochlorides, a mesylate, sodium salts, a hydrate.
VENDOR_ROWS = [
    ("diphenhydramine HCl", "CN(C)CCOC(c1ccccc1)c1ccccc1.Cl"),
    (
        "imatinib mesylate",
        "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1.CS(=O)(=O)O",
    ),
    ("diclofenac sodium", "O=C([O-])Cc1ccccc1Nc1c(Cl)cccc1Cl.[Na+]"),
    ("cetirizine 2HCl", "Cl.Cl.O=C(O)COCCN1CCN(C(c2ccccc2)c2ccc(Cl)cc2)CC1"),
    ("paracetamol hydrate", "CC(=O)Nc1ccc(O)cc1.O"),
    ("naproxen sodium", "COc1ccc2cc([C@H](C)C(=O)[O-])ccc2c1.[Na+]"),
]


def test_a_vendor_sheet_of_salts_plans_without_editing(tmp_path):
    plan = plan_of(make_config(tmp_path, rows=VENDOR_ROWS, shard_size=10))
    targets = plan.shard("P1", "00000").targets
    assert [t.smiles for t in targets] == list(plan.ligands["modeled_smiles"])
    assert all("." not in t.smiles for t in targets)
    assert targets[2].smiles == "O=C(O)Cc1ccccc1Nc1c(Cl)cccc1Cl"
    assert list(plan.ligands["standardisation"]) == [
        "counter-ion removed: chloride",
        "counter-ion removed: mesylate",
        "counter-ion removed: sodium; neutralised",
        "counter-ion removed: chloride ×2",
        "solvent removed: water",
        "counter-ion removed: sodium; neutralised",
    ]
    assert list(plan.ligands["smiles"]) == [smiles for _, smiles in VENDOR_ROWS]


def test_the_same_sheet_is_refused_with_salts_rejected_naming_every_line(tmp_path):
    raw = make_config(tmp_path, rows=VENDOR_ROWS)
    raw["ligands"] = {"sheet": raw["ligands"], "salts": "reject"}
    with pytest.raises(SheetError) as error:
        plan_of(raw)
    message = str(error.value)
    assert "has 6 problem(s)" in message
    for line, (name, _) in enumerate(VENDOR_ROWS, start=2):
        assert f"line {line} (name {name!r}): SMILES" in message


def test_two_protonation_states_are_one_target_with_both_rows(tmp_path):
    rows = [("acid", "CC(=O)O"), ("acetate", "CC(=O)[O-]"), ("Na salt", "CC(=O)[O-].[Na+]")]
    plan = plan_of(make_config(tmp_path, rows=rows))
    assert plan.target_count == 1
    target = plan.shard("P1", "00000").targets[0]
    assert target.smiles == "CC(=O)O"
    assert [alias.name for alias in target.ligands] == ["acid", "acetate", "Na salt"]
    # Without affinity Boltz models each charge state as given: each its own target.
    separate = plan_of(make_config(tmp_path, rows=rows, model={"affinity": False}))
    assert separate.target_count == 2


def test_the_salts_example_plans_as_snakemake_merges_it(repo, tmp_path, monkeypatch):
    # config/salts.yaml over config/config.yaml, run from the repository (docs/inputs.md's command).
    monkeypatch.chdir(repo)
    raw = merged_config_files([repo / "config" / "salts.yaml"]) | {"store": str(tmp_path)}
    plan = build_plan(load_config(raw), LocalStore(tmp_path))
    ligands = plan.ligands.set_index("name")
    assert len(ligands) == 11 and plan.target_count == 10  # imatinib and its mesylate: one
    assert (ligands["modeled_smiles"].str.contains(".", regex=False)).sum() == 0
    assert ligands.loc["diclofenac sodium", "standardisation"] == (
        "counter-ion removed: sodium; neutralised"
    )
    assert ligands.loc["rac-warfarin", "flags"] == "enhanced-stereo"
    assert ligands.loc["ibuprofen", "flags"] == "undefined-stereo"


def test_the_replicates_example_plans_as_snakemake_merges_it(repo, tmp_path, monkeypatch):
    # config/replicates.yaml over config/config.yaml, from the repository
    # (docs/how-a-screen-runs.md's command),
    # on a machine without Boltz's molecule cache (CCD codes are checked for their form).
    monkeypatch.chdir(repo)
    raw = merged_config_files([repo / "config" / "replicates.yaml"]) | {"store": str(tmp_path)}
    raw["runtime"] = {**raw["runtime"], "cache": str(tmp_path / "no-cache")}
    plan = build_plan(load_config(raw), LocalStore(tmp_path))
    assert plan.seeds == [0, 1, 2] and plan.target_count == 3 * 6
    assert sorted({shard.replicate for shard in plan.shards.values()}) == [0, 1, 2]
    codes = {t.ccd for t in plan.targets() if t.ccd is not None}
    assert codes == {"STU", "ADP", "ANP"}
