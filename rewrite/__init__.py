"""keras-rewrite: declarative graph rewrites for Keras 3 models.

Importing this package, parsing and checking rules do not import Keras or a
backend; applying rules does. Everything here works on any Keras 3 backend
(TensorFlow, JAX, PyTorch); docs/backends.md says what was run on which.

Examples:
    >>> import rewrite
    >>> result = rewrite.apply(model, 'Dense[name ~ "fc*"].activation := tanh')
    >>> result.model.get_layer("fc1").activation.__name__
    'tanh'
"""

from rewrite._version import __version__ as __version__
from rewrite.api import apply, check, draw, graph, plan
from rewrite.errors import (
    Diagnostic,
    InplaceError,
    MatchError,
    ModelLoadError,
    OutputError,
    PictureError,
    PlanError,
    RewriteError,
    RuleCheckError,
    RuleSyntaxError,
    UnsupportedModelError,
    UsageError,
    ValidationFailure,
    WeightPolicyError,
)
from rewrite.lang.parser import parse
from rewrite.modes import Level, Mode
from rewrite.options import ApplyOptions
from rewrite.report.rewrite_report import RewriteReport
from rewrite.result import RewriteResult
from rewrite.ruleset import RuleSet, collect, from_text, load
from rewrite.transforms import transform

__all__ = [
    "ApplyOptions",
    "Diagnostic",
    "Level",
    "Mode",
    "InplaceError",
    "MatchError",
    "ModelLoadError",
    "OutputError",
    "PictureError",
    "PlanError",
    "RewriteError",
    "RewriteReport",
    "RewriteResult",
    "RuleCheckError",
    "RuleSet",
    "RuleSyntaxError",
    "UnsupportedModelError",
    "UsageError",
    "ValidationFailure",
    "WeightPolicyError",
    "apply",
    "check",
    "collect",
    "draw",
    "from_text",
    "graph",
    "load",
    "parse",
    "plan",
    "transform",
]

