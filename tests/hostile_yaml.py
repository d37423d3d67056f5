"""Hostile YAML for the config-file tests (tests/unit/test_config_files.py,
tests/workflow/test_hostile_planning.py)."""

from __future__ import annotations


def alias_bomb(kind: str, width: int = 9, levels: int = 9) -> str:
    """A YAML 'billion laughs': each level holds `width` aliases of the one before, so a file
    of a few hundred bytes stands for width**levels values."""
    if kind == "list":
        lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
        lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    else:
        lines = [f"m0: &m0 {{{', '.join(f'k{j}: lol' for j in range(width))}}}"]
        lines += [
            f"m{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(width))}}}"
            for i in range(1, levels)
        ]
    return "\n".join(lines) + "\n"


def nested_block_mappings(depth: int) -> str:
    return "".join(f"{'  ' * level}k{level}:\n" for level in range(depth)) + "  " * depth + "1\n"
