"""Commands that read files only, never a model: `check` and `show-provenance`.

This module imports no Keras: `keras-rewrite check` runs in a CI job without a
backend, in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json

from rewrite.api import check
from rewrite.io.provenance import read


def cmd_check(args: argparse.Namespace) -> int:
    diagnostics = check(*args.files)
    errors = [d for d in diagnostics if d.severity == "error"]
    if args.format == "json":
        print(json.dumps({"files": len(args.files), "errors": len(errors), "diagnostics": [d.to_dict() for d in diagnostics]}, indent=2))
    else:
        for d in diagnostics:
            print(d)
        print(f"{len(args.files)} file(s) checked: {len(errors)} error(s), {len(diagnostics) - len(errors)} warning(s)")
    return 1 if errors else 0


def cmd_show_provenance(args: argparse.Namespace) -> int:
    data = read(args.model)
    if data is None:
        print(f"{args.model}: no keras-rewrite provenance (not made by keras-rewrite, or not a .keras file)")
        return 1
    print(json.dumps(data, indent=2, sort_keys=True))
    return 0
