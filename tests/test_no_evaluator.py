"""No text from outside reaches an evaluator.

While these tests run, ``sympy.parsing.sympy_parser.parse_expr`` and
``eval_expr`` (``sympify`` and ``nsimplify`` of a string go through them),
``builtins.eval``, ``builtins.exec`` and ``sympy.Rational.__new__`` record
every call that receives a ``str``, with the project frames that made it.
Then

* every value-taking option of every subcommand (the parser walk of
  ``test_hostile_cli``) is given benign textual values (``1/2``, ``0.5``,
  ``-3/10``, a small loss, ``x=1,y=3/5``...) and a hostile one;
* the public constructors and entry points are called with strings.

A call may succeed or fail with :class:`analytic.errors.ImplregError`; no
evaluator may receive the text that was typed.  A recorded string counts when
it is that text or one of its pieces (split at ``,`` and ``=``), or contains
the whole text (four characters or more), and was not evaluated while a module
was being imported: the libraries' own uses of ``exec`` and ``eval`` on strings
they generate (dataclasses, namedtuples, SymPy's polynomial code and unit
tables) are not user text.  Evaluating SymPy objects
is fine.

A static check lists every call of ``eval``/``exec``/``compile``, of
``sympify``/``S`` on a non-literal, of ``nsimplify``, ``parse_expr``,
``Fraction(str(...))`` and ``Rational(<one non-numeric argument>)`` in
``analytic/``, ``numeric/`` and ``verify/``; only the call sites in
:data:`ALLOWED` (internal values, never user text) may remain.
"""
from __future__ import annotations

import ast
import builtins
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import pytest
import sympy as sp
import sympy.parsing.sympy_parser as sympy_parser
from sympy.core.numbers import Rational

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_hostile_cli as H  # noqa: E402  (the parser walk, baselines and forked runner)

from analytic.errors import ImplregError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROJECT_DIRS = ("analytic", "numeric", "verify")

HITS: list = []


def _project_frames(limit: int = 3) -> list[str]:
    frames = traceback.extract_stack()[:-3]
    own = [f for f in frames if any(f"{os.sep}{d}{os.sep}" in f.filename for d in PROJECT_DIRS)
           and str(ROOT) in f.filename]
    chosen = own[-limit:] if own else [f for f in frames if __file__ not in f.filename][-limit:]
    return [f"{os.path.relpath(f.filename, ROOT)}:{f.lineno} {f.name}" for f in chosen]


def _record(what: str, text) -> None:
    importing = any("importlib._bootstrap" in f.filename for f in traceback.extract_stack())
    HITS.append({"what": what, "text": str(text)[:200], "where": _project_frames(), "import": importing})


def pieces(texts) -> set[str]:
    """The typed texts and their pieces at ``,`` and ``=``."""
    out = set()
    for t in texts:
        t = t.strip()
        out.add(t)
        for part in t.split(","):
            out.add(part.strip())
            out.update(p.strip() for p in part.split("="))
    return {p for p in out if p}


def tainted(hits, texts) -> list[dict]:
    """The hits whose string is typed text (see the module docstring); strings a
    library evaluates while one of its modules is being imported are its own."""
    whole = [t.strip() for t in texts if len(t.strip()) >= 4]
    parts = pieces(texts)
    return [h for h in hits if not h["import"]
            and (h["text"].strip() in parts or any(w in h["text"] for w in whole))]


def string_leaves(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in string_leaves(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in string_leaves(v)]
    return []


def install_trap(monkeypatch) -> None:
    """Make the evaluators record every call on a str (undone with ``monkeypatch``)."""
    parse_expr, eval_expr = sympy_parser.parse_expr, sympy_parser.eval_expr
    real_eval, real_exec = builtins.eval, builtins.exec
    rational_new = Rational.__new__

    def spy_parse_expr(s, *args, **kwargs):
        if isinstance(s, str):
            _record("parse_expr", s)
        return parse_expr(s, *args, **kwargs)

    def spy_eval_expr(code, *args, **kwargs):
        if isinstance(code, str):
            _record("eval_expr", code)
        return eval_expr(code, *args, **kwargs)

    def spy_eval(source, globals=None, locals=None):
        if isinstance(source, str):
            _record("eval", source)
        if globals is None:          # keep the caller's namespace, as the builtin would
            frame = sys._getframe(1)
            globals, locals = frame.f_globals, frame.f_locals if locals is None else locals
        return real_eval(source, globals, locals)

    def spy_exec(source, globals=None, locals=None, **kwargs):
        if isinstance(source, str):
            _record("exec", source)
        if globals is None:
            frame = sys._getframe(1)
            globals, locals = frame.f_globals, frame.f_locals if locals is None else locals
        return real_exec(source, globals, locals, **kwargs)

    def spy_rational_new(cls, *args, **kwargs):
        if args and isinstance(args[0], str) or len(args) > 1 and isinstance(args[1], str):
            _record("Rational", args[0] if isinstance(args[0], str) else args[1])
        return rational_new(cls, *args, **kwargs)

    monkeypatch.setattr(sympy_parser, "parse_expr", spy_parse_expr)
    monkeypatch.setattr(sympy_parser, "eval_expr", spy_eval_expr)
    monkeypatch.setattr(builtins, "eval", spy_eval)
    monkeypatch.setattr(builtins, "exec", spy_exec)
    monkeypatch.setattr(Rational, "__new__", staticmethod(spy_rational_new))


@pytest.fixture
def evaluator_trap(monkeypatch):
    """Record every evaluator call on a str for the duration of a test."""
    install_trap(monkeypatch)
    HITS.clear()
    yield HITS
    HITS.clear()


def test_the_trap_sees_sympify_nsimplify_rational_eval(evaluator_trap):
    sp.sympify("1/2")
    sp.nsimplify("0.5")
    sp.Rational("1/3")
    eval("1")                     # noqa: S307 - the trap itself is under test
    exec("pass")                  # noqa: S102
    sp.sympify(sp.Integer(2))     # not text: not recorded
    sp.Rational(1, 3)
    kinds = [h["what"] for h in evaluator_trap]
    for k in ("parse_expr", "eval_expr", "Rational", "eval", "exec"):
        assert k in kinds, kinds
    assert kinds.count("Rational") == 1
    typed = {h["what"] for h in tainted(evaluator_trap, ["1/2", "0.5", "1/3"])}
    assert {"parse_expr", "Rational"} <= typed, typed
    assert not tainted(evaluator_trap, ["7/9"])


# ---------------------------------------------------------------------------------------------
# (a) every CLI option with benign textual values and a hostile one
# ---------------------------------------------------------------------------------------------
HOSTILE = f"__import__('os').system('touch {H.MARK}')"


def benign_values(spec: H.OptionSpec, env: H.Env) -> list[str]:
    kind = H.kind_of(spec)
    items = H.baseline(spec, env)
    good = H.good_value(spec, items)
    t = env.tmp
    table = {
        "symbolic": ["1/2", "0.5", "-3/10", "1e-1", "rho"],
        "exact": ["1/2", "0.5", "-3/10", "1e-1"] + (["1-1/e", "0.25"] if spec.option == "--tau" else []),
        "int": [good or "2", "1/2", "-3/10", "0.5"],
        "params": ["x=1,y=3/5", "x=0.5,y=-3/10", "x,y"],
        "loss": ["1/2*(y-w*x)**2", "(w*x - y)**2/2 + 1/10*w**2", "sigmoid(w*x) - 0.5*y"],
        "names": ["w", "w,v"],
        "lookup": [good] if good else [],
        "free": [r"loss=L,step=\eta", r"beta=\rho,grad=g_{t,1}"],
        "choice": list(spec.choices[:2]) if spec.choices else [],
        "outfile": [good or str(t / f"out{H.SUFFIX.get(spec.option, '.txt')}")],
        "outdir": [str(t / "outdir")],
        "infile": [good] if good else [],
    }
    values = [v for v in table.get(kind, ["1/2", "0.5", "-3/10"]) if v]
    if kind not in ("outfile", "outdir", "infile", "choice"):
        values.append(HOSTILE if kind != "params" else f"x={HOSTILE},y=1/2")
        values.append("implreg_pwned()" if kind != "params" else "x=implreg_pwned(),y=1/2")
    return values


def _run_traced(case, timeout, capsys, canary):
    HITS.clear()
    res = H.run_cli(case.argv, capsys, timeout, canary)
    res["hits"] = list(HITS)
    res["out"] = res["out"][:200]
    res["err"] = res["err"][:300]
    return res


def _hit_text(hits) -> str:
    seen, parts = set(), []
    for h in hits:
        key = (h["what"], tuple(h["where"]))
        if key not in seen:
            seen.add(key)
            parts.append(f"{h['what']}({h['text'][:50]!r}) at {' <- '.join(reversed(h['where'])) or '?'}")
    return "; ".join(parts)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return H.Env.make(tmp_path_factory.mktemp("evaluator-env"))


@pytest.mark.parametrize("spec", H.OPTIONS, ids=[s.id for s in H.OPTIONS])
def test_cli_option_text_reaches_no_evaluator(spec, env, evaluator_trap, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(builtins, "implreg_pwned", H.implreg_pwned, raising=False)
    monkeypatch.chdir(tmp_path)
    items = H.baseline(spec, env)
    cases = []
    for v in benign_values(spec, env):
        v = v.replace(H.MARK, str(env.canary))
        cases.append(H.Case(H.render(spec, items, v), v))
    results = H.run_isolated(cases, lambda case, timeout: _run_traced(case, timeout, capsys, env.canary))
    failures = []
    for case, res in zip(cases, results):
        if res is None or res.get("killed") or "died" in res:
            failures.append(f"  {H._short(case.value)}: no result ({res})")
            continue
        bad = []
        hits = tainted(res["hits"], [case.value])
        if hits:
            bad.append("evaluator: " + _hit_text(hits))
        if res["pwned"] or res["canary"]:
            bad.append("EXECUTED hostile text")
        if bad:
            failures.append(f"  {H._short(case.value)}: {'; '.join(bad)}")
    assert not failures, f"{spec.id}: text reached an evaluator\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# (b) the Python API with strings
# ---------------------------------------------------------------------------------------------
def _api_calls(canary: str):
    """(label, function, args, kwargs): the public entry points called with strings."""
    from analytic import masks as M
    from analytic import optimizers as O
    from analytic import principal_flow as PF
    from analytic import sgd_stability as SG
    from analytic import stability as ST
    from analytic.loss import parse_loss
    from numeric import networks as N
    from numeric import precision as P
    from numeric.compile import compile_expr
    hostile = HOSTILE.replace(H.MARK, canary)
    w = sp.Symbol("w", real=True)

    def hb_polynomial(h, beta):
        return ST.characteristic_polynomial(O.HeavyBall(h, beta))

    calls = [
        (O.GD, ("1/10",), {}),
        (O.GD, ("0.1",), {}),
        (O.HeavyBall, ("h", "1/2"), {}),
        (O.Nesterov, ("h", "-3/10"), {}),
        (O.SGD, ("0.1", 2), {}),
        (O.LabelNoise, ("h", "1/5"), {}),
        (O.make_optimizer, ("heavy-ball", "h"), {"beta": "0.9"}),
        (O.make_optimizer, ("nesterov", "1/10"), {"beta": "-3/10"}),
        (O.make_optimizer, ("label-noise", "h"), {"sigma": "0.1"}),
        (O.make_optimizer, ("sgd", "1/10"), {"batches": 2}),
        (parse_loss, ("1/2*(y-w*x)**2", "w", "x=1,y=0.5"), {}),
        (parse_loss, ("1/2*(y-w*x)**2", "w", {"x": "1/2", "y": "0.5"}), {}),
        (M.mask, ("gd",), {}),
        (M.threshold_relation, ("99/100",), {}),
        (M.threshold_relation, ("0.5",), {}),
        (M.grey_zone, ("99/100", "1/100"), {}),
        (M.grey_zone, ("0.9", "0.1"), {}),
        (hb_polynomial, ("1/10", "1/2"), {}),
        (ST.characteristic_polynomial, (O.GD("h"), "2"), {}),
        (ST.schur_cohn, ("z**2 - 1/4",), {}),
        (SG.second_moment_matrix, ([[[1]], [[3]]], "1/2", 1), {}),
        (SG.second_moment_matrix, ([[["1/2"]], [["3"]]], "0.5", 1), {}),
        (SG.second_moment_operator, ([[[1]], [[3]]], "1/2", 1), {}),
        (SG.exact_batch_variance, (["0", "1/2", "2", "5"], 2), {}),
        (SG.inclusion_probabilities, ("10", "2"), {}),
        (PF.principal_flow, ([[2, 0], [0, 1]], "1/4"), {}),
        (PF.principal_flow, ([["2", "0"], ["0", "1"]], "0.25"), {}),
        (PF.principal_flow_series, (2,), {"h": "1/4"}),
        (N.exact_scale, ("3/2",), {}),
        (N.exact_scale, ("0.1",), {}),
        (P.network_spectrum, ("relu", 4, 4, "3/2"), {"digits": 10, "verify": False}),
        (compile_expr, (["w**2/2"], (w,)), {}),
        # hostile text
        (O.GD, (hostile,), {}),
        (O.HeavyBall, ("h", hostile), {}),
        (O.make_optimizer, ("label-noise", "h"), {"sigma": hostile}),
        (parse_loss, ("w**2", "w", f"x={hostile}"), {}),
        (M.threshold_relation, (hostile,), {}),
        (M.grey_zone, (hostile, "1/100"), {}),
        (SG.second_moment_matrix, ([[[1]], [[3]]], "implreg_pwned()", 1), {}),
        (SG.second_moment_matrix, ([[[hostile]]], "1/2", 1), {}),
        (PF.principal_flow, ([[hostile]], "1/4"), {}),
        (PF.principal_flow, ([[2]], "implreg_pwned()"), {}),
        (N.exact_scale, (hostile,), {}),
        (ST.schur_cohn, ("implreg_pwned()*z + z**2",), {}),
        (compile_expr, ([hostile], (w,)), {}),
    ]
    return [(_label(f, a, k, canary), f, a, k) for f, a, k in calls]


def _label(func, args, kwargs, canary) -> str:
    def show(v):
        r = repr(v).replace(HOSTILE.replace(H.MARK, canary), "<hostile>")
        return r if len(r) <= 40 else r[:37] + "..."
    name = f"{func.__module__.split('.')[-1]}.{func.__name__}"
    return f"{name}({', '.join([show(a) for a in args] + [f'{k}={show(v)}' for k, v in kwargs.items()])})"


def _run_api(case, timeout, canary: Path):
    label, func, args, kwargs = case
    HITS.clear()
    H.PWNED["calls"] = 0
    outcome = "ok"
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    try:
        func(*args, **kwargs)
    except H.Hang:
        outcome = "hang"
    except ImplregError as exc:
        outcome = f"ImplregError: {str(exc)[:100]}"
    except BaseException as exc:    # noqa: BLE001 - reported
        outcome = f"other: {type(exc).__name__}: {str(exc)[:100]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    created = canary.exists()
    if created:
        canary.unlink()
    return {"outcome": outcome, "hits": list(HITS), "pwned": H.PWNED["calls"], "canary": created,
            "elapsed": time.perf_counter() - start}


@pytest.fixture(scope="module")
def api_results(tmp_path_factory):
    """Run every API call once with the trap set (shared by the two API tests)."""
    canary = tmp_path_factory.mktemp("api") / "CANARY"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtins, "implreg_pwned", H.implreg_pwned, raising=False)
        calls = _api_calls(str(canary))        # imports done before the trap is set
        install_trap(mp)
        results = H.run_isolated(calls, lambda case, timeout: _run_api(case, timeout, canary))
    HITS.clear()
    return [(label, res, string_leaves([args, kwargs])) for (label, _, args, kwargs), res in zip(calls, results)]


def test_api_string_arguments_reach_no_evaluator(api_results):
    failures = []
    for label, res, texts in api_results:
        if res is None or res.get("killed") or "died" in res:
            failures.append(f"  {label}: no result ({res})")
            continue
        bad = []
        hits = tainted(res["hits"], texts)
        if hits:
            bad.append("evaluator: " + _hit_text(hits))
        if res["pwned"] or res["canary"]:
            bad.append("EXECUTED hostile text")
        if bad:
            failures.append(f"  {label}: {'; '.join(bad)}")
    assert not failures, "API string arguments reached an evaluator:\n" + "\n".join(failures)


def test_api_string_arguments_succeed_or_raise_implreg_error(api_results):
    failures = [f"  {label}: {res['outcome'] if res and 'outcome' in res else res}"
                for label, res, _ in api_results
                if not res or "outcome" not in res or not (res["outcome"] == "ok"
                                                           or res["outcome"].startswith("ImplregError"))]
    assert not failures, "API calls with strings failed otherwise:\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# static check of the source
# ---------------------------------------------------------------------------------------------
#: (file, function, call) -> why the evaluator call there never sees user text
ALLOWED = {
    ("numeric/kernel.py", "generate_kernel", "exec"):
        "runs source the kernel generator printed from a SymPy tree",
    ("numeric/kernel.py", "generate_kernel", "compile"):
        "compiles source the kernel generator printed from a SymPy tree",
    ("numeric/stepper.py", "CompiledStep._loop", "exec"):
        "runs the step loop printed from the traced tape: only buffer, ufunc and operator names "
        "from fixed tables; every constant is bound in the namespace, none is spelled in the text",
    ("numeric/stepper.py", "CompiledStep._loop", "compile"):
        "compiles that step loop",
}

_SYMPY_MODULES = {"sp", "sympy"}


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _numeric_literal(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool)


def _why(node: ast.Call) -> str | None:
    """The evaluator a call may hand text to, or None."""
    name = _dotted(node.func)
    if name is None:
        return None
    last, head = name.split(".")[-1], name.split(".")[0]
    args = [a for a in node.args if not isinstance(a, ast.Starred)]
    single = len(node.args) == 1 and len(args) == 1 and not node.keywords
    if name in ("eval", "exec", "compile", "builtins.eval", "builtins.exec", "builtins.compile"):
        return name
    if last in ("sympify", "S") and (name == last or head in _SYMPY_MODULES):
        strict = any(k.arg == "strict" and isinstance(k.value, ast.Constant) and k.value.value is True
                     for k in node.keywords)
        if not strict and not (args and isinstance(args[0], ast.Constant)):
            return f"{name}(<non-literal>)"
        return None
    if last == "nsimplify" and (name == last or head in _SYMPY_MODULES):
        return None if (args and _numeric_literal(args[0])) else name
    if last == "parse_expr":
        return name
    if last == "Fraction" and single and isinstance(args[0], ast.Call) and _dotted(args[0].func) == "str":
        return "Fraction(str(...))"
    if last == "Rational" and (name == last or head in _SYMPY_MODULES) and single \
            and not _numeric_literal(args[0]):
        return f"{name}(<one non-numeric argument>)"
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, source: str):
        self.path, self.source, self.scope, self.found = path, source, [], []

    def _scoped(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Call(self, node):
        why = _why(node)
        if why:
            segment = " ".join((ast.get_source_segment(self.source, node) or "").split())
            self.found.append({"file": self.path, "function": ".".join(self.scope) or "<module>",
                               "line": node.lineno, "call": why, "code": segment[:90]})
        self.generic_visit(node)


def evaluator_call_sites() -> list[dict]:
    sites = []
    for d in PROJECT_DIRS:
        for path in sorted((ROOT / d).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            scanner = _Scanner(path.relative_to(ROOT).as_posix(), source)
            scanner.visit(ast.parse(source, filename=str(path)))
            sites += scanner.found
    return sites


def _site(s) -> str:
    return f"  {s['file']}:{s['line']} in {s['function']}: {s['call']}   [{s['code']}]"


def test_static_no_evaluator_call_sites():
    sites = evaluator_call_sites()
    bad = [s for s in sites if (s["file"], s["function"], s["call"]) not in ALLOWED]
    assert not bad, ("calls that may hand text to an evaluator (read the text with analytic.values, "
                     "or add (file, function, call) with a reason to ALLOWED):\n" + "\n".join(map(_site, bad)))


def test_static_allowlist_is_current():
    present = {(s["file"], s["function"], s["call"]) for s in evaluator_call_sites()}
    stale = [f"  {f} {fn} {call}: {why}" for (f, fn, call), why in ALLOWED.items()
             if (f, fn, call) not in present]
    assert not stale, "ALLOWED entries without a call site any more (remove them):\n" + "\n".join(stale)


def test_static_scanner_finds_the_patterns(tmp_path):
    source = "\n".join([
        "import sympy as sp", "from fractions import Fraction",
        "def f(t):",
        "    eval(t); exec(t); sp.sympify(t); sp.S(t); sp.nsimplify(t)",
        "    sp.parsing.sympy_parser.parse_expr(t); Fraction(str(t)); sp.Rational(t)",
        "    sp.sympify(1); sp.Rational(1, 2); sp.Rational(3); Fraction(t); sp.sympify(t, strict=True)",
    ])
    scanner = _Scanner("x.py", source)
    scanner.visit(ast.parse(source))
    calls = [s["call"] for s in scanner.found]
    assert calls == ["eval", "exec", "sp.sympify(<non-literal>)", "sp.S(<non-literal>)", "sp.nsimplify",
                     "sp.parsing.sympy_parser.parse_expr", "Fraction(str(...))",
                     "sp.Rational(<one non-numeric argument>)"], calls
