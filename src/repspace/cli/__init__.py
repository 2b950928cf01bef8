"""The ``repspace`` command line: one module per group of commands; each command parses, calls
the Python API, prints. Importing a module registers its commands on :data:`app`, in the order
of :data:`COMMAND_MODULES` (the order of ``repspace --help``)."""

from importlib import import_module

from repspace.cli._app import app, main

COMMAND_MODULES = (
    "space",
    "metrics",
    "evaluation",
    "compression",
    "alignment",
    "selection",
    "index",
    "training",
)

for _name in COMMAND_MODULES:
    import_module(f"repspace.cli.{_name}")

__all__ = ["app", "main"]
