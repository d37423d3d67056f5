"""One config loader for the CLI and the progress view: Snakemake's merge over the
workflow's config/config.yaml."""

import yaml

from omtx_hub.config_files import merged_config_files


def write(path, mapping):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(mapping))
    return path


def test_files_merge_over_the_workflow_config_as_in_snakemake(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path / "config" / "config.yaml",
        {"screen": {"name": "demo", "description": "d"}, "proteins": [{"name": "A"}]},
    )
    screen = write(tmp_path / "screen.yaml", {"screen": {"name": "mine"}, "proteins": []})
    override = write(tmp_path / "more.yaml", {"model": {"seed": 3}})
    merged = merged_config_files([screen, override])
    # Mappings merge key by key; lists (and every other value) are replaced.
    assert merged == {
        "screen": {"name": "mine", "description": "d"},
        "proteins": [],
        "model": {"seed": 3},
    }


def test_without_a_workflow_config_only_the_files_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    screen = write(tmp_path / "screen.yaml", {"screen": {"name": "mine"}})
    assert merged_config_files([screen]) == {"screen": {"name": "mine"}}
