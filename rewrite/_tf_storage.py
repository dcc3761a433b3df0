"""Freeing a TensorFlow variable's storage: the one thing the package asks of TensorFlow itself.

Keras has no call that gives a variable's memory back while the variable lives
on; `release_variables` (in `_keras_private`) needs it for `consume=True` on the
TensorFlow backend, and uses the backend's own means elsewhere.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def empty_variable(inner: Any) -> None:
    """Give the tf.Variable `inner` an empty value; its resource stays, its old buffer is freed
    unless another variable shares it."""
    empty = tf.zeros([0], dtype=inner.dtype)
    tf.raw_ops.AssignVariableOp(resource=inner.handle, value=empty, validate_shape=False)
