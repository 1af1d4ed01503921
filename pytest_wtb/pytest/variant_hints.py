"""Where variants are looked for, said in the errors that find none.

Variants are the ``@wtb.variant`` objects in the test module's globals, declared there or imported into
it, and nowhere else. A ``conftest.py`` is not a place for them: ``python -m pytest_wtb replay`` imports
only the test module a stored row names, so a variant that lives only in a conftest could run under
pytest but never be replayed. A conftest that declares variants anyway is named in the error.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from pytest_wtb.declare.variants import variants_in

WHERE = "variants are read only from the test module's globals"


def _conftests_over(config: pytest.Config, module: ModuleType) -> list[ModuleType]:
    """The loaded conftest.py modules whose directory holds ``module``'s file, outermost first."""
    origin = getattr(module, "__file__", None)
    if not origin:
        return []
    folder = Path(origin).resolve().parent
    found = []
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if isinstance(plugin, ModuleType) and path and Path(path).name == "conftest.py":
            here = Path(path).resolve().parent
            if here == folder or here in folder.parents:
                found.append(plugin)
    return sorted(found, key=lambda m: len(Path(str(m.__file__)).parts))


def variants_hint(config: pytest.Config, module: ModuleType, *, always: bool = True) -> str:
    """A sentence for errors about a module's variants: where they are read from (unless not ``always``),
    and any conftest.py that declares some in vain."""
    for conftest in _conftests_over(config, module):
        names = [v.name for v in variants_in(vars(conftest))]
        if names:
            where = Path(str(conftest.__file__))
            try:
                where = where.relative_to(config.rootpath)
            except ValueError:
                pass
            listed = ", ".join(names)
            return (
                f"; {where} declares @wtb.variant {listed}, but {WHERE} (declared there or imported into it), "
                f"not from conftest.py: move them to a plain module (e.g. variants.py beside it) and import "
                f"them into each test module that uses them (from variants import {listed})"
            )
    return f"; {WHERE}: declare them there or import them into it" if always else ""
