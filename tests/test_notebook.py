"""Reports, plans and graphs in Jupyter: the HTML shows what the terminal prints, escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import networkx as nx
import numpy as np
import pytest

import rewrite
from rewrite.graphview.exports import graph_rows

ALLOWED_TAGS = {"style", "div", "h3", "h4", "p", "span", "code", "section", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "b"}


class Page(HTMLParser):
    """The tables, headings and tags of an HTML fragment (text cells as they read)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h3", "h4"):
            self._heading = []
        elif tag == "style":
            self._in_style = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag in ("h3", "h4") and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)


def text_tables(text: str) -> list[list[list[str]]]:
    """The tables of the terminal rendering, split at the columns its dashed rule marks."""
    lines = text.splitlines() + [""]
    rule = re.compile(r" *-+( +-+)*")
    tables = []
    for i, line in enumerate(lines):
        if not rule.fullmatch(line) or i == 0:
            continue
        spans = [m.span() for m in re.finditer(r"-+", line)]

        def cells(row: str, spans=spans) -> list[str]:
            return [row[a : (spans[k + 1][0] if k + 1 < len(spans) else None)].strip() for k, (a, _) in enumerate(spans)]

        table = [cells(lines[i - 1])]
        for j in range(i + 1, len(lines) - 1):
            row, indent = lines[j], spans[0][0]
            ends = not row.strip() or row[:indent].strip() or row[indent] == " " or rule.fullmatch(lines[j + 1])
            if ends or row[indent:].startswith(("...", "warning:")):
                break
            table.append(cells(row))
        tables.append(table)
    return tables


@pytest.fixture
def rewritten(head_model, probe):
    rules = 'Dense[name ~ "fc*"].activation := gelu\ninsert Dropout(0.1) after Dense[name = "fc2"]\ndelete Dropout[rate = 0.5]'
    return rewrite.apply(head_model, rules, probe=probe)


def test_report_html_has_the_terminal_tables_cell_for_cell(rewritten):
    report = rewritten.report
    page = Page(report._repr_html_())
    assert page.tables == text_tables(report.render())
    changes = next(t for t in page.tables if t[0] == ["layer", "field", "old", "new"])
    assert changes[1:] == [["fc1", "activation", "relu", "gelu"], ["fc2", "activation", "relu", "gelu"]]
    structure = [t for t in page.tables if t[0][0] == "structure"]
    assert [row[:3] for t in structure for row in t[1:]] == [["added", "fc2", "fc2_dropout (Dropout)"], ["removed", "drop", "-"]]
    validation = next(t for t in page.tables if t[0] == ["check", "result", "detail"])
    assert [row[1] for row in validation[1:]] == [c.status for c in report.validation]
    assert all(row[1] == "passed" for row in validation[1:])
    drift = next(t for t in page.tables if t[0] == ["output", "kind", "max abs", "max rel"])
    assert drift[1:] == [[d.output, d.kind, f"{d.max_abs:.3g}", f"{d.max_rel:.3g}"] for d in report.drift]
    assert float(drift[1][2]) > 0  # gelu moved the outputs
    assert "weights: 10 variables copied (" in " ".join(page.headings)
    assert any("matched 2 layer(s), changed 2" in t for t in page.text)
    assert "validation PASSED" in "".join(page.text)
    assert page.tags <= ALLOWED_TAGS


def test_result_shows_its_report(rewritten):
    assert rewritten._repr_html_() == rewritten.report.to_html()


def test_plan_html_shows_near_misses_and_no_validation(head_model):
    plan = rewrite.plan(head_model, "Dense[units = 12].activation := tanh\nDense[units = 99].activation := tanh")
    page = Page(plan._repr_html_())
    assert page.headings[0] == "Plan (dry run)"
    assert page.tables == text_tables(plan.render())
    near = [[row[0] for row in t[1:]] for t in page.tables if t[0] == ["near miss", "why not"]]
    assert near == [["fc1", "out"], ["fc1", "fc2", "out"]]
    assert ["fc2", "activation", "relu", "tanh"] in page.tables[0]
    assert "validation" not in "".join(page.text)


def test_user_text_is_escaped(keras, probe):
    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(4, activation="relu", name="fc<i>&amp")(x)
    model = keras.Model(x, keras.layers.Dense(2, name="out")(h))
    plan = rewrite.plan(model, 'param p = "<b>" in ["<b>", "x"]\nDense[units < 3].activation := tanh')
    html = plan.to_html()
    page = Page(html)
    assert page.tags <= ALLOWED_TAGS  # no <i> or <b> smuggled in by names or values
    assert "<code>Dense[units &lt; 3].activation := tanh</code>" in html
    assert "p=&lt;b&gt;" in html
    near = next(t for t in page.tables if t[0] == ["near miss", "why not"])
    assert near[1][0] == "fc<i>&amp"
    graph_page = Page(rewrite.graph(model)._repr_html_())
    assert graph_page.tags <= ALLOWED_TAGS
    assert "fc<i>&amp" in [row[1] for row in graph_page.tables[0]]


def test_explain_lists_every_near_miss_in_html_too(keras):
    x = keras.Input((4,))
    h = x
    for i in range(7):
        h = keras.layers.Dense(4, name=f"d{i}")(h)
    plan = rewrite.plan(keras.Model(x, h), "Dense[units = 5].activation := tanh")
    assert len(Page(plan.to_html()).tables[0]) == 1 + 5
    assert "2 more near misses" in "".join(Page(plan.to_html()).text)
    assert len(Page(plan.to_html(explain=True)).tables[0]) == 1 + 7


def test_evaluation_table(head_model, probe):
    model = head_model
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    y = np.array([0, 1, 2, 0, 1])
    report = rewrite.apply(model, "Dense[name = \"fc1\"].activation := tanh", probe=probe, evaluate=(probe, y)).report
    page = Page(report.to_html())
    table = next(t for t in page.tables if t[0] == ["metric", "original", "rewritten"])
    assert table == next(t for t in text_tables(report.render()) if t[0] == ["metric", "original", "rewritten"])
    assert {row[0] for row in table[1:]} >= {"loss"}


def test_graph_is_still_a_multidigraph_and_shows_a_table(head_model):
    g = rewrite.graph(head_model)
    assert isinstance(g, nx.MultiDiGraph)
    assert ("fc1#0", "bn#0") in g.edges() and isinstance(g.copy(), nx.MultiDiGraph)
    page = Page(g._repr_html_())
    rows = page.tables[0]
    assert rows[0] == ["#", "layer", "class", "output shape", "inputs"]
    assert [r[1:] for r in rows[1:]] == [[r.path, r.cls, r.shapes, ", ".join(r.inputs)] for r in graph_rows(g)]
    assert rows[2][1:] == ["fc1", "Dense", "(None, 16)", "x"]
    assert "6 layer calls of 6 layers, 5 tensors" in "".join(page.text)


def test_progress_is_shown_in_an_executed_notebook(tmp_path):
    """`progress=True` in Jupyter: an HTML line in the cell's output, updated in place."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    setup = (
        "import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\nimport keras, rewrite\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name='fc')])"
    )
    run = "result = rewrite.apply(model, 'Dense.activation := tanh', progress=True)\nresult.report.passed"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(run)])
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[1].outputs
    shown = [o for o in outputs if o.output_type == "display_data"]
    assert shown, outputs
    final = shown[0].data["text/html"]  # the display, as its last update left it
    assert re.search(r"rewrite: \d+ step\(s\) in \d+s", final), final
    assert any(o.output_type == "execute_result" and o.data["text/plain"] == "True" for o in outputs)
    assert not any(o.output_type == "stream" and o.name == "stderr" and "\x1b[" in o.text for o in outputs)
