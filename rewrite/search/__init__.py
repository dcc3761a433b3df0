"""Architecture search: variants of one model from a parametric rule set, and bridges
to the search libraries (`rewrite.search.optuna`, `rewrite.search.ray`; KerasTuner
is `rewrite.tuner`). The bridges import their library only when used."""

from rewrite.search.variant_models import (
    ParamSpace,
    Variant,
    grid,
    planned,
    sample,
    signature,
    space,
    variants,
)

__all__ = ["ParamSpace", "Variant", "grid", "planned", "sample", "signature", "space", "variants"]
