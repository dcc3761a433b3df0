"""Files shipped with the package: the grammar, the layer catalogue, the ready-made rules.

An installed wheel holds them as package data (`rewrite.grammar`, `rewrite.rules`,
`rewrite.lang`); a source checkout that is not installed has them in its own
folders (grammar/, rules/). One lookup serves both, for every file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def package_path(package: str, checkout_folder: str, name: str) -> Path:
    """The path of `name` in package data `package`, or in the checkout's `checkout_folder`.

    Examples:
        >>> package_path("rewrite.grammar", "grammar", "rules.lark").name
        'rules.lark'
    """
    try:
        shipped = Path(str(resources.files(package))) / name
        if shipped.exists():
            return shipped
    except ModuleNotFoundError:
        pass
    return _CHECKOUT / checkout_folder / name
