"""keras.applications models pruned 30% model-wide: residual streams (ResNet50), inverted residuals
(MobileNetV2) and dense concatenations (DenseNet121) prune as groups; the result is valid, saves,
reloads, and has exactly the parameter count the plan predicted."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import rewrite

RULE = 'prune * by l1 ratio=0.3 except Dense[name = "predictions"]'


@pytest.mark.parametrize(
    "name, kwargs",
    [("ResNet50", {}), ("MobileNetV2", {"alpha": 0.35}), ("DenseNet121", {})],
)
def test_application_pruned_30_percent(name, kwargs, tmp_path):
    model = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3), classes=10, **kwargs)
    # Validation's own save and reload is what this test does below, once.
    result = rewrite.apply(model, RULE, validate="none")
    predicted = result.report
    assert predicted.cost is not None
    (statement,) = result.report.statements
    assert statement.pruned and all(g.channels_after < g.channels_before for g in statement.pruned)
    assert result.model.count_params() == predicted.cost.params_after
    assert predicted.cost.params_after < 0.8 * model.count_params()
    assert predicted.cost.macs_after < predicted.cost.macs_before
    assert result.model.get_layer("predictions").units == 10
    path = tmp_path / f"{name}.keras"
    result.model.save(path)
    again = keras.saving.load_model(path)
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(result.model(x)), atol=1e-6)
    assert again.count_params() == predicted.cost.params_after
