"""``python -m noisybox``: the same as the ``noisybox`` command.

Installed, the command line is the package ``noisybox.cli`` (``pyproject.toml`` maps it to the
folder ``cli/``). Run from a source checkout, Python finds the folder ``noisybox/`` first,
which holds no ``cli``: the checkout's ``cli/`` beside it is then loaded as ``noisybox.cli``.
"""

import importlib.util
import sys
from pathlib import Path


def _checkout_cli():
    """``cli/`` of the source checkout this file is in, imported as ``noisybox.cli``."""
    folder = Path(__file__).resolve().parent.parent / "cli"
    spec = importlib.util.spec_from_file_location(
        "noisybox.cli", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or not (folder / "__init__.py").is_file():
        raise SystemExit(f"noisybox: no noisybox.cli installed and no {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["noisybox.cli"] = module
    spec.loader.exec_module(module)
    return module


try:
    from noisybox.cli import main
except ModuleNotFoundError as error:
    if error.name != "noisybox.cli":
        raise
    main = _checkout_cli().main

raise SystemExit(main())
