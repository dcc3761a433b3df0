"""Regenerate the pictures in docs/img (run from the repository root).

    python docs/img/make_images.py          # needs matplotlib; chromium for the screenshot

resnet50-plan.png    the matplotlib drawing of a ResNet50 plan (what you get without Graphviz)
resnet50-plan-graphviz.png   the same plan drawn by Graphviz (when `dot` is installed)
notebook-report.png  a report's `_repr_html_`, as Jupyter shows it, screenshot by headless Chromium
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import rewrite  # noqa: E402
from rewrite.cli.demo import build_demo_model  # noqa: E402

HERE = Path(__file__).resolve().parent

RESNET_RULES = """\
replace c:Conv2D[name = "conv1_conv"] -> bn:BatchNormalization with fold_batchnorm
Activation[name ~ "conv5_block3_*"].activation := gelu
delete Activation[name = "conv5_block2_out"]
replace Activation[name = "conv4_block6_out"] with ReLU()
insert Dropout(0.2) before Dense[name = "predictions"]
Dense[name = "predictions"].activation := linear
"""

NOTEBOOK_RULES = """\
param act = gelu in [gelu, tanh]
rule smooth-head "A smooth activation in the head" {
    Dense[name ~ "fc?"].activation := $act
    expect matches >= 1
}
insert Dropout(0.1) after Dense[name = "fc2"]
delete Dropout[rate = 0.3]
Conv2D[filters > 100].activation := tanh
"""


def resnet_pictures() -> None:
    model = keras.applications.ResNet50(weights=None)
    plan = rewrite.plan(model, RESNET_RULES)
    rewrite.draw(model, plan, HERE / "resnet50-plan.png", engine="matplotlib")
    if shutil.which("dot"):
        rewrite.draw(model, plan, HERE / "resnet50-plan-graphviz.png", engine="graphviz")


def notebook_screenshot() -> None:
    result = rewrite.apply(build_demo_model(), NOTEBOOK_RULES)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("the screenshot needs Chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(f"<!doctype html><meta charset='utf-8'><body style='margin:16px;background:#fff'>{result._repr_html_()}</body>")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={HERE / 'notebook-report.png'}", "--window-size=1100,1330", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )


if __name__ == "__main__":
    resnet_pictures()
    notebook_screenshot()
