"""Model builders named as `module:callable` in CLI tests."""

from __future__ import annotations


def small_cnn():
    from rewrite.cli.demo import build_demo_model

    return build_demo_model()


def not_a_model():
    return 42
