r"""``--notation`` (and ``--eta``) reach the LaTeX of every ``implreg derive`` command:
``--format latex``, the LaTeX fields of ``--format json`` and ``--document FILE.tex``;
unknown names and malformed entries are one-line errors (exit 2)."""
from __future__ import annotations

import json

import pytest

from verify.cli import build_parser, main

LINEAR = ["--model", "linear2d"]

#: derive command -> (arguments, --notation, TeX that must appear, default TeX that must not)
CASES = {
    "gradient": (LINEAR, r"loss=L,w1=\theta_1", [r"{\nabla L}", r"\theta_1"], [r"{\nabla E}", "{E}", "w_{1}"]),
    "hessian": (LINEAR, r"hess=\mathbf{H}", [r"{\mathbf{H}}"], [r"{\nabla^2 E}"]),
    "grad-norm": (LINEAR, "grad=g", [r"\|{g}\|^2"], [r"{\nabla E}"]),
    "minima": (LINEAR, "loss=L", ["{L}"], ["{E}"]),
    "modified-loss": (["--optimizer", "gd", "--order", "1", *LINEAR], r"step=\eta", [r"{\eta}"], ["{h}"]),
    "stability": (["--optimizer", "gd"], r"step=\alpha", [r"\frac{2}{\alpha}"], [r"\frac{2}{h}"]),
    "mask": (["--method", "gd"], r"s=\sigma", [r"h \sigma^{2}"], [r"h s^{2}"]),
    "threshold": ([], r"step=\alpha", [r"\alpha s_{th}^{2}"], [r"h s_{th}^{2}"]),
    "jacobian-reg": (["--classes", "3"], r"p1=\pi_1", [r"\pi_1"], ["p_{1}"]),
}


def derive_commands() -> set[str]:
    parser = build_parser()
    commands = next(a for a in parser._subparsers._group_actions).choices
    derive = commands["derive"]
    return set(next(a for a in derive._subparsers._group_actions).choices)


def _run(capsys, argv):
    code = main(["derive", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _latex_fields(obj) -> list[str]:
    if isinstance(obj, dict):
        found = []
        for key, value in obj.items():
            if "latex" in key and isinstance(value, str):
                found.append(value)
            else:
                found += _latex_fields(value)
        return found
    if isinstance(obj, list):
        return [s for item in obj for s in _latex_fields(item)]
    return []


def test_every_derive_command_is_covered():
    assert derive_commands() == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_notation_reaches_latex_json_and_document(name, tmp_path, capsys):
    args, option, new, old = CASES[name]
    code, default_latex, _ = _run(capsys, [name, *args, "--format", "latex"])
    assert code == 0
    assert all(o in default_latex for o in old) and not any(n in default_latex for n in new)

    tex = tmp_path / f"{name}.tex"
    code, latex, err = _run(capsys, [name, *args, "--notation", option, "--format", "latex",
                                     "--document", str(tex)])
    assert code == 0, err
    document = tex.read_text()
    for text in (latex, document):
        assert all(n in text for n in new), (name, [n for n in new if n not in text])
        assert not any(o in text for o in old), (name, [o for o in old if o in text])

    code, out, _ = _run(capsys, [name, *args, "--format", "json"])
    default_fields = "\n".join(_latex_fields(json.loads(out)))
    code, out, err = _run(capsys, [name, *args, "--notation", option, "--format", "json"])
    assert code == 0, err
    fields = "\n".join(_latex_fields(json.loads(out)))
    assert not any(o in fields for o in old)
    if any(o in default_fields for o in old):         # the JSON LaTeX writes these names at all
        assert any(n in fields for n in new)


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_name_is_rejected_by_every_derive_command(name, tmp_path, capsys):
    args = CASES[name][0]
    tex = tmp_path / "never.tex"
    code, out, err = _run(capsys, [name, *args, "--notation", "foo=F", "--document", str(tex)])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "'--notation'" in err and "unknown name 'foo' (known: loss, step" in err
    assert not tex.exists()


@pytest.mark.parametrize("name, option", [("gradient", r"beta=\beta'"), ("modified-loss", r"sigma=\varsigma"),
                                          ("stability", r"eta=\tau"), ("jacobian-reg", r"w1=\theta")])
def test_symbol_names_must_belong_to_the_derivation(name, option, capsys):
    code, _, err = _run(capsys, [name, *CASES[name][0], "--notation", option])
    assert code == 2 and err.count("\n") == 1
    assert f"unknown name {option.split('=')[0]!r}" in err and "a symbol of this derivation" in err


def test_symbol_of_the_derivation_can_be_renamed(capsys):
    code, latex, err = _run(capsys, ["stability", "--optimizer", "heavy-ball", "--notation", r"beta=\rho",
                                     "--format", "latex"])
    assert code == 0, err
    assert r"\rho" in latex and r"\beta" not in latex


def test_known_name_without_latex_in_a_command_is_accepted(capsys):
    code, default, _ = _run(capsys, ["jacobian-reg", "--format", "latex"])
    assert code == 0
    code, renamed, err = _run(capsys, ["jacobian-reg", "--notation", "loss=L", "--format", "latex"])
    assert code == 0, err
    assert renamed == default


@pytest.mark.parametrize("option, reason", [
    ("loss", "write name=LaTeX pairs"),
    ("=L", "write name=LaTeX pairs"),
    ("loss=", "the LaTeX is empty"),
    ("loss={L", "unbalanced braces"),
    ("loss=L}", "unbalanced braces"),
    ("loss=}L{", "unbalanced braces"),
    ("loss=a\nb", "printable ASCII"),
    ("loss=" + "x" * 41, "longer than 40"),
    ("loss=a&b", "alignment"),
    ("loss=a%b", "comment"),
    (r"loss=a\\b", "line break"),
    (r"loss=\end{align}", "environment"),
    ("loss=L,loss=M", "given twice"),
    ("1x=y", "unknown name '1x'"),
])
def test_malformed_entries_name_the_entry(option, reason, capsys):
    code, out, err = _run(capsys, ["gradient", *LINEAR, "--notation", option])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "'--notation'" in err and reason in err
    entry = option.split(",")[-1] if "twice" in reason else option
    if "unknown" not in reason:
        assert f"entry {entry!r}" in err


def test_eta_flag_matches_step_notation_everywhere(capsys):
    for argv in (["modified-loss", "--optimizer", "gd", "--order", "1", *LINEAR], ["grad-norm", *LINEAR]):
        _, eta, _ = _run(capsys, [*argv, "--eta", "--format", "latex"])
        _, step, _ = _run(capsys, [*argv, "--notation", r"step=\eta", "--format", "latex"])
        assert eta == step and (r"{\eta}" in eta or argv[0] == "grad-norm")
    # masks write the step h, printed as \eta only through the notation
    _, default, _ = _run(capsys, ["mask", "--method", "gf", "--format", "latex"])
    _, eta, _ = _run(capsys, ["mask", "--method", "gf", "--eta", "--format", "latex"])
    assert r"\eta" in eta and r"\eta" not in default


def test_document_notation_table_follows_the_command(tmp_path, capsys):
    default, renamed = tmp_path / "default.tex", tmp_path / "renamed.tex"
    assert main(["derive", "stability", "--optimizer", "gd", "--document", str(default)]) == 0
    assert main(["derive", "stability", "--optimizer", "gd", "--notation", r"step=\alpha",
                 "--document", str(renamed)]) == 0
    capsys.readouterr()
    assert r"step size & $h$" in default.read_text()
    assert r"step size & $\alpha$" in renamed.read_text()


def test_ordinary_macros_are_accepted(capsys):
    code, latex, err = _run(capsys, ["grad-norm", *LINEAR, "--notation", r"grad=\partial_w \ell,loss=\ell",
                                     "--format", "latex"])
    assert code == 0, err
    assert r"\|{\partial_w \ell}\|^2" in latex


@pytest.mark.parametrize("optimizer", ["gd", "heavy-ball", "label-noise"])
def test_modified_field_terms_carry_the_step_notation(optimizer, capsys):
    assert main(["derive", "modified-loss", "--optimizer", optimizer, "--order", "1", "--model", "linear2d",
                 "--notation", r"step=\alpha", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    first = [t for t in data["terms"] if t["order"] == 1][0]["abstract_latex"]
    assert r"\alpha" in first and "\\IR" not in first and not first.startswith("h")
    assert r"\alpha" in data["latex"] and r"h\left" not in data["latex"]
