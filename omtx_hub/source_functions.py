"""A module-level function of an installed package, without running the rest of its module.

Boltz's `standardize` (boltz/data/parse/schema.py), which sheet validation applies to every
SMILES, uses only RDKit, but its module imports torch and scikit-learn: 1.5 s and 300 MB in each
process that validates SMILES. `own_function` compiles the function from the module's source
together with only the module's own import statements of the names it reads, so it is the same
code bound to the same objects (tests/unit/test_chemistry.py compares the two), and refuses
(None: import the module) wherever that cannot be made sure of.
"""

from __future__ import annotations

import ast
import builtins
import dis
import importlib.util
from collections import Counter
from pathlib import Path
from types import CodeType, FunctionType


def _global_names(code: CodeType) -> set[str]:
    """The global names `code` (and any function or comprehension in it) reads."""
    names = {
        instruction.argval
        for instruction in dis.get_instructions(code)
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME")
    }
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            names |= _global_names(constant)
    return names


def _names_bound(statement: ast.stmt) -> list[str]:
    """Every name a top-level statement binds, nested blocks included (more than it binds
    in the module where a nested function binds a local: refusing too much is safe)."""
    names = []
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.append(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names += [alias.asname or alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.Global):
            names += node.names
    return names


def own_function(module: str, name: str) -> FunctionType | None:
    """Function `name` of `module`, compiled from the module's source file without running
    the rest of the module: first the module's own import statements of the global names the
    function reads, then its `def`; so it has the same code as `module.name` and, bound to
    those names, the same objects (tests/unit/test_chemistry.py compares the two). None where
    that cannot be made sure of: no plain source file, a decorated function, a name bound
    other than by exactly one top-level import statement (a helper or constant of the
    module, a conditional import) or a `from ... import *`."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"), filename=spec.origin)
    bindings: Counter[str] = Counter()
    imports: dict[str, ast.stmt] = {}
    definition = None
    # `from __future__` statements change how the module compiles: kept as they are.
    future = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    for node in tree.body:
        if node in future:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                bound = alias.asname or alias.name.split(".")[0]
                bindings[bound] += 1
                one = ast.Import(names=[alias]) if isinstance(node, ast.Import) else None
                one = one or ast.ImportFrom(module=node.module, names=[alias], level=node.level)
                imports[bound] = ast.copy_location(one, node)
        else:
            bindings.update(_names_bound(node))
            if isinstance(node, ast.FunctionDef) and node.name == name:
                definition = node
    for node in ast.walk(tree):  # `global` in a function rebinds a module name
        if isinstance(node, ast.Global):
            bindings.update({each: 2 for each in node.names})
    if definition is None or definition.decorator_list or bindings[name] != 1:
        return None
    # The names the `def` (annotations, defaults) and the body read, compiled as the module
    # compiles them: with its `from __future__` statements, without this module's.
    alone = ast.Module(body=[*future, definition], type_ignores=[])
    code = compile(alone, spec.origin, "exec", dont_inherit=True)
    needed = sorted(_global_names(code) - set(dir(builtins)))
    if any(bindings[each] != 1 or each not in imports for each in needed):
        return None
    body = [*future, *(imports[each] for each in needed), definition]
    whole = ast.Module(body=body, type_ignores=[])
    namespace = {"__name__": module, "__file__": spec.origin, "__package__": spec.parent}
    exec(compile(whole, spec.origin, "exec", dont_inherit=True), namespace)
    return namespace[name]
