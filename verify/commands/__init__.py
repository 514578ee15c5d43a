"""Command-line plugins.

Each module here may define

* ``DERIVE``: a dict ``{quantity: (add_arguments, run)}`` for
  ``implreg derive QUANTITY``; ``run(args)`` returns a dict with at least
  ``"text"`` and ``"latex"`` (and the JSON fields of that quantity), or a
  :class:`analytic.result.Result`;
* ``COMMANDS``: a dict ``{name: (help, add_arguments, run)}`` for top-level
  commands; ``run(args)`` returns the exit code.

:mod:`verify.cli` collects them, so capabilities add commands without editing
the CLI itself.
"""
import importlib
import pkgutil


def plugins():
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        mods.append(importlib.import_module(f"{__name__}.{info.name}"))
    return mods
