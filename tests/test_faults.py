"""Faults a hostile user or a faulty machine brings: no NaN that passes, no empty probe, no lost input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import rewrite
from rewrite.validation.outputs import max_diff


def test_a_rewrite_that_makes_outputs_nan_fails_validation(head_model, probe, tmp_path):
    # A negative epsilon under the square root: every output becomes nan.
    for validate in ("full", "config", "none"):
        options = {"validate": validate, "drift": True} if validate == "none" else {"validate": validate}
        with pytest.raises(rewrite.ValidationFailure, match=r"finite outputs: output `out` has \d+ non-finite value\(s\)") as info:
            rewrite.apply(head_model, "BatchNormalization.epsilon := -1000", **options)
        failed = {c.kind for c in info.value.report.validation if c.status == "failed"}
        assert "finite" in failed
    assert head_model.get_layer("bn").epsilon == pytest.approx(1e-3)


def test_comparisons_are_nan_safe():
    a = np.array([1.0, 2.0, np.nan], "float32")
    assert max_diff(a, np.array([1.0, 2.0, 3.0], "float32"))[0] == float("inf")
    assert max_diff(np.array([1.0, 2.0, 3.0], "float32"), a)[0] == float("inf")
    assert max_diff(a, a.copy()) == (0.0, 0.0)  # the same nan in the same place is the same output
    assert max_diff(np.array([np.inf]), np.array([np.nan]))[0] == float("inf")
    assert max_diff(np.array([1.0, 5.0]), np.array([1.5, 5.0])) == (0.5, 0.1)


@pytest.mark.parametrize("empty", [np.zeros((0, 8), "float32"), np.zeros((4, 0), "float32")])
def test_an_empty_probe_is_refused(head_model, empty):
    with pytest.raises(rewrite.ValidationFailure, match=r"the probe batch is empty: its input 0 has shape"):
        rewrite.apply(head_model, "rule r {\n Dense.activation := tanh\n expect outputs equal\n}", probe=empty)


def test_probe_inputs_of_different_batch_sizes_are_refused(keras):
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    model = keras.Model([a, b], keras.layers.Dense(1, name="out")(keras.layers.Add()([a, b])))
    with pytest.raises(rewrite.ValidationFailure, match=r"different batch sizes \[2, 3\]"):
        rewrite.apply(model, "Dense.activation := tanh", probe=[np.ones((2, 2), "float32"), np.ones((3, 2), "float32")])


def test_in_place_puts_the_model_back_whatever_fails_after_the_change(head_model, probe):
    before = head_model.get_layer("fc1").activation.__name__
    # evaluate= on a model that was never compiled fails after the fields were set.
    with pytest.raises(ValueError, match="needs a compiled model"):
        rewrite.apply(head_model, 'Dense[name = "fc1"].activation := tanh', mode="inplace", evaluate=(probe, np.zeros((5, 3))))
    assert head_model.get_layer("fc1").activation.__name__ == before
    head_model.compile(loss="mse")
    with pytest.raises((ValueError, rewrite.RewriteError)):  # labels of the wrong shape
        rewrite.apply(head_model, 'Dense[name = "fc1"].activation := tanh', mode="inplace", evaluate=(probe, np.zeros((5, 7, 2))))
    assert head_model.get_layer("fc1").activation.__name__ == before


# ---------------------------------------------------------------- outputs

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from rewrite.cli.main import main  # noqa: E402
from rewrite.io.saving import save_atomic  # noqa: E402


def _search_rules(tmp_path):
    rules = tmp_path / "s.rw"
    rules.write_text('param act = relu in [relu, tanh]\nDense[name ~ "fc?"].activation := $act\n')
    return rules


def test_search_never_writes_over_its_input(saved, tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["search", str(saved), str(_search_rules(tmp_path)), "--grid", "-o", str(first)]) == 0
    source = first / "variant_000.keras"
    digest = source.read_bytes()
    assert main(["search", str(source), str(_search_rules(tmp_path)), "--grid", "-o", str(first), "--force"]) == 2
    assert f"holds the input {source}" in capsys.readouterr().err
    assert source.read_bytes() == digest


def test_a_failed_search_over_an_earlier_one_leaves_it_whole(saved, tmp_path, capsys):
    out = tmp_path / "variants"
    assert main(["search", str(saved), str(_search_rules(tmp_path)), "--grid", "-o", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "broken.rw"
    broken.write_text("param eps = -1000.0 in [-1000.0]\nBatchNormalization.epsilon := $eps\n")
    assert main(["search", str(saved), str(broken), "--grid", "-o", str(out), "--force"]) == 1
    assert "finite outputs" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    index = json.loads((out / "index.json").read_text())
    assert all((out / row["file"]).exists() for row in index if row["file"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".variants.search-")]


@pytest.mark.parametrize("case", ["folder", "under a file", "not a model"])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(saved, tmp_path, capsys, case):
    rules = tmp_path / "r.rw"
    rules.write_text("Dropout.rate := 0.1\n")
    (tmp_path / "a_file").write_text("x")
    target = {"folder": tmp_path, "under a file": tmp_path / "a_file" / "out.keras", "not a model": tmp_path / "out.txt"}[case]
    assert main(["apply", str(saved), str(rules), "-o", str(target), "--force"]) == 2
    err = capsys.readouterr().err
    expected = {"folder": "is a folder; give a file name", "under a file": "is a file, not a folder", "not a model": "-o must end in .keras"}[case]
    assert expected in err and "Traceback" not in err


def test_a_file_created_meanwhile_is_never_replaced_without_force(head_model, tmp_path):
    target = tmp_path / "out.keras"
    target.write_bytes(b"someone else's model")
    with pytest.raises(rewrite.OutputError, match="created by someone else"):
        save_atomic(head_model, target, replace=False)
    assert target.read_bytes() == b"someone else's model"
    assert [p.name for p in tmp_path.iterdir()] == ["out.keras"]  # no temporary file left


def test_outputs_take_the_umask_or_the_mode_they_replace(head_model, tmp_path):
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.keras"
        save_atomic(head_model, fresh)
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.keras"
        kept.write_bytes(b"x")
        kept.chmod(0o640)
        save_atomic(head_model, kept)
        assert kept.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_sigterm_cleans_up_like_sigint(tmp_path, keras, demo_files):
    model, rules, out = demo_files
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-m", "rewrite", "apply", str(model), str(rules), "-o", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".out.") for p in tmp_path.iterdir()) and proc.poll() is None:
        time.sleep(0.01)  # until the temporary file beside the output exists
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert not out.exists() or keras.saving.load_model(out) is not None


# ---------------------------------------------------------------- bounded work


def test_a_billion_point_range_is_sampled_without_listing_it():
    rules = rewrite.from_text("param u = 4 in range(1, 1000000000)\nDense.units := $u\n")
    start = time.perf_counter()
    (draw,) = rules.sample(1, seed=3)
    assert time.perf_counter() - start < 1.0  # a bound on work, not a benchmark: listing takes minutes
    assert 1 <= draw["u"] <= 1_000_000_000 and isinstance(draw["u"], int)
    with pytest.raises(ValueError, match=r"999,999,999 values, over the limit of 100,000 for a grid|1,000,000,000 combinations"):
        rules.grid()
    tiny = rewrite.from_text("param r = 0.5 in range(0.0, 1.0, step=1e-300)\nDropout.rate := $r\n")
    assert 0.0 <= tiny.sample(1)[0]["r"] <= 1.0
    with pytest.raises(ValueError, match="over the limit"):
        tiny.grid()


def test_small_ranges_sample_as_before():
    rules = rewrite.from_text("param u = 4 in range(2, 10, step=2)\nparam a = relu in [relu, tanh]\nDense.units := $u\nDense.activation := $a\n")
    assert rules.grid() == [{"u": u, "a": a} for u in (2, 4, 6, 8, 10) for a in ("relu", "tanh")]
    draws = rules.sample(20, seed=0)
    assert {d["u"] for d in draws} <= {2, 4, 6, 8, 10} and len({d["u"] for d in draws}) > 2


@pytest.mark.parametrize(("space", "message"), [
    ("range(1, 10, step=0)", "step must be a number above 0, not 0"),
    ("range(1, 10, step=-1)", "step must be a number above 0, not -1"),
    ("range(10, 1)", "range(10, 1) is empty"),
])
def test_degenerate_ranges_are_check_errors(space, message):
    with pytest.raises(rewrite.RuleCheckError, match=re.escape(message)):
        rewrite.from_text(f"param u = 4 in {space}\nDense.units := $u\n")


def test_a_backtracking_regex_stops_with_advice(keras):
    x = keras.Input((2,))
    name = "a" * 40 + "b"
    model = keras.Model(x, keras.layers.Dense(1, name=name)(x))
    start = time.perf_counter()
    # `(a+)+` is no trouble for the engine used; `(a|aa)+` against 40 a's would run for hours.
    assert rewrite.plan(model, "Dense[name ~ /^(a+)+$/].activation := tanh").statements[0].matches == []
    with pytest.raises(rewrite.PlanError, match=r"/\^\(a\|aa\)\+\$/ took more than 0.25 s .*\(nested repetition"):
        rewrite.plan(model, "Dense[name ~ /^(a|aa)+$/].activation := tanh")
    assert time.perf_counter() - start < 10
    assert rewrite.plan(model, "Dense[name ~ /^a+b$/].activation := tanh").statements[0].matches == [name]


# ---------------------------------------------------------------- inputs that are not what they say


def test_a_rule_file_that_links_to_another_file_is_never_shown(tmp_path):
    secret = tmp_path / "token.txt"
    secret.write_text("ghp_secret_token_value\n")
    link = tmp_path / "innocent.rw"
    link.symlink_to(secret)
    findings = rewrite.check(link)
    assert [d.code for d in findings] == ["not-a-rule-file"]
    assert "ghp_secret" not in str(findings[0]) and "links to" in findings[0].message


def test_non_utf8_and_bom_files(tmp_path):
    latin = tmp_path / "latin.rw"
    latin.write_bytes("# caf\xe9\nDense.units := 3\n".encode("latin-1"))
    bom = tmp_path / "bom.rw"
    bom.write_bytes("\ufeffDense.units := 3\n".encode("utf-8"))
    typo = tmp_path / "typo.rw"
    typo.write_text("Desne.units := 3\n")
    findings = rewrite.check(latin, bom, typo)  # each file's findings, none lost
    assert [(d.file, d.line, d.code) for d in findings] == [(str(latin), 1, "not-utf8"), (str(typo), 1, "unknown-class")]
    assert rewrite.load(bom).statements[0].statement.field == "units"


def test_a_use_chain_too_deep_or_in_a_symlink_loop_is_a_rule_error(tmp_path):
    for i in range(150):
        (tmp_path / f"f{i}.rw").write_text(f'use "f{i + 1}.rw"\n' if i < 149 else "Dense.units := 3\n")
    with pytest.raises(rewrite.RuleCheckError, match="`use` goes more than 100 files deep"):
        rewrite.load(tmp_path / "f0.rw")
    (tmp_path / "a.rw").symlink_to(tmp_path / "b.rw")
    (tmp_path / "b.rw").symlink_to(tmp_path / "a.rw")
    findings = rewrite.check(tmp_path / "a.rw")
    assert len(findings) == 1 and findings[0].severity == "error"


@pytest.mark.parametrize("case", ["empty", "folder", "truncated"])
def test_a_model_file_that_is_not_a_model_is_one_clear_line(saved, tmp_path, capsys, case):
    rules = tmp_path / "r.rw"
    rules.write_text("Dropout.rate := 0.1\n")
    bad = tmp_path / "bad.keras"
    if case == "empty":
        bad.write_bytes(b"")
    elif case == "folder":
        bad.mkdir()
    else:
        bad.write_bytes(saved.read_bytes()[:200])
    assert main(["plan", str(bad), str(rules)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    expected = {"empty": "is empty (0 bytes)", "folder": "is a folder, not a .keras/.h5 file", "truncated": "cannot load"}[case]
    assert len(err) == 1 and expected in err[0] and "unexpected" not in err[0]


@pytest.mark.parametrize("option", ["--probe", "--eval", "--custom-objects"])
def test_missing_side_inputs_are_one_clear_line(saved, tmp_path, capsys, option):
    rules = tmp_path / "r.rw"
    rules.write_text("Dropout.rate := 0.1\n")
    value = "no_such_module:objects" if option == "--custom-objects" else str(tmp_path / "missing.npz")
    assert main(["apply", str(saved), str(rules), "-o", str(tmp_path / "o.keras"), option, value]) == (4 if option == "--custom-objects" else 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and "unexpected" not in err[0]
    assert not (tmp_path / "o.keras").exists()


def test_damaged_or_huge_provenance_is_a_clear_error(saved, tmp_path, capsys):
    import zipfile

    from rewrite.io.provenance import ENTRY

    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(saved.read_bytes())
    with zipfile.ZipFile(damaged, "a") as zf:
        zf.writestr(ENTRY, "{not json")
    huge = tmp_path / "huge.keras"
    huge.write_bytes(saved.read_bytes())
    with zipfile.ZipFile(huge, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(ENTRY, '{"x": "' + "a" * 5_000_000 + '"}')
    assert main(["show-provenance", str(damaged)]) == 4
    assert "record is damaged" in capsys.readouterr().err
    start = time.perf_counter()
    assert main(["diff", str(saved), str(huge)]) == 4
    assert "over 1,000,000" in capsys.readouterr().err and time.perf_counter() - start < 30


def test_inserts_on_everything_cannot_grow_the_model_without_bound(head_model):
    rules = "\n".join(["insert Dropout(0.0) after *"] * 16)
    with pytest.raises(rewrite.PlanError, match=r"over the limit of 10,000 for a model of \d+ layers; an `insert` on `\*`"):
        rewrite.plan(head_model, rules)


def test_names_cannot_inject_markup_into_a_markdown_diff():
    from rewrite.report.diff import markdown_cell

    assert markdown_cell("fc | <img src=x> `code` [link](u)") == r"fc \| \<img src=x\> \`code\` \[link\]\(u\)"
    assert markdown_cell("two\nlines") == "two lines"


def test_values_keras_refuses_are_plan_errors_naming_the_layer(head_model):
    with pytest.raises(rewrite.PlanError, match=r"layer `fc1` \(Dense\): Keras refuses name := 'a/b': ValueError: .*\(set by `Dense\[name = \"fc1\"\].name := \"a/b\"`"):
        rewrite.apply(head_model, 'Dense[name = "fc1"].name := "a/b"')


def test_a_full_disk_is_an_output_error_and_leaves_nothing(head_model, tmp_path, monkeypatch):
    import errno

    def full(folder, path):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("rewrite.keras_archive.pack", full)  # the archive is written from the saved folder
    with pytest.raises(rewrite.OutputError, match="cannot write .*out.keras: No space left on device; nothing was written"):
        save_atomic(head_model, tmp_path / "out.keras")
    assert list(tmp_path.iterdir()) == []


def test_a_broken_test_file_is_one_failure_and_the_others_run(tmp_path, capsys):
    from rewrite.cli.ruletests import run

    (tmp_path / "good.rw").write_text("BatchNormalization.momentum := 0.9\n")
    (tmp_path / "good.test.toml").write_text('model = "rewrite.zoo:cnn"\n[expect]\nmatched = ["bn1"]\n')
    (tmp_path / "bad.rw").write_text("Dropout.rate := 0.25\n")
    (tmp_path / "bad.test.toml").write_text("model = [unclosed\n")
    outcomes = {o.name.rsplit("/", 1)[-1]: o for o in run([tmp_path])}
    assert outcomes["good.test.toml"].passed, outcomes["good.test.toml"].failures
    assert not outcomes["bad.test.toml"].passed and "cannot read this test file: TOMLDecodeError" in outcomes["bad.test.toml"].failures[0]
    assert "1 passed, 1 failed" in capsys.readouterr().out


def test_a_search_into_a_file_and_a_picture_into_a_missing_folder_are_refused_first(saved, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main(["search", str(saved), str(_search_rules(tmp_path)), "--grid", "-o", str(target)]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    rules = tmp_path / "r.rw"
    rules.write_text("Dropout.rate := 0.1\n")
    out = tmp_path / "out.keras"
    assert main(["apply", str(saved), str(rules), "-o", str(out), "--picture", str(tmp_path / "no" / "plan.svg")]) == 2
    assert "the folder" in capsys.readouterr().err and not out.exists()  # refused before the model was written


def test_check_json_stays_json_with_a_file_that_is_not_utf8(tmp_path, capsys):
    bad = tmp_path / "bad.rw"
    bad.write_bytes(b"Dense.units := 3 # \xff\n")
    good = tmp_path / "good.rw"
    good.write_text("Dense.units := 3\n")
    assert main(["check", str(bad), str(good), "--format", "json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] == 1 and [d["code"] for d in report["diagnostics"]] == ["not-utf8"]


@pytest.mark.parametrize(("params", "message"), [
    ({"act": 3}, "the value given, 3, is not one of"),
    ({"width": "wide"}, "the value given, 'wide'"),
    ({"width": [1, 2]}, "the value given, [1, 2]"),
])
def test_parameter_values_of_the_wrong_type_are_rule_errors(head_model, params, message):
    rules = rewrite.from_text("param act = relu in [relu, gelu]\nparam width = 16 in range(8, 32)\nDense[name ~ \"fc*\"].activation := $act\nDense[name = \"fc1\"].units := $width using weights=slice\n")
    with pytest.raises(rewrite.RuleCheckError, match=re.escape(message)):
        rules.apply(head_model, params=params)
