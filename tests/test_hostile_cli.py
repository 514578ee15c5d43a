"""Every value-taking option of every subcommand rejects hostile text cleanly.

The options are read from the real parser (:func:`verify.cli.build_parser`), so
a new option is tested as soon as it exists; :data:`MINIMUM` makes sure a
refactor cannot silently shrink the set.  For each option a cheap valid
command line is built and the option's value replaced by each entry of a
hostile corpus (code injection, malformed and non-ASCII numbers, resource
attacks, odd paths).  A hostile run must

* return exit status 2 (``main`` turns argparse's ``SystemExit`` into it),
* print nothing on stdout and exactly one line on stderr, without a traceback,
* name the option and (for a non-empty value) a prefix of the offending value,
* finish within :data:`TIMEOUT` seconds,
* create no file (a canary path) and call no function (``implreg_pwned``).

Values whose acceptance is a matter of taste (a path inside a directory that
does not exist yet, free LaTeX in ``--notation``) only have to behave cleanly:
exit 0, or exit 2 with one line.

The runs call ``main(argv)`` in this interpreter, inside forked workers: a
SIGALRM watchdog stops a slow run, and a computation deaf to signals (one huge
integer power) gets its worker killed instead of hanging the test session.
"""
from __future__ import annotations

import argparse
import builtins
import json
import os
import re
import resource
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from verify.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]

#: a claim that runs in a fraction of a second with ``--quick``
FAST_CLAIM = "seed000.minima-curve"
#: seconds a single hostile run may take
TIMEOUT = 10.0
#: extra seconds before a worker deaf to the watchdog is killed
GRACE = 5.0
#: memory a worker may add on top of the test process (bytes)
WORKER_MEMORY = 3 << 30
#: placeholder for the canary path inside corpus entries
MARK = "@CANARY@"

LOSS_OPTIONS = {"--loss", "--vars", "--params", "--model"}
DERIVE_COMMON = {"--format", "--document", "--notation"}
#: the optimizer options of verify.commands.spec_args
SPEC_OPTIONS = {"--method", "--hyper", "--init", "--small", "--beta1", "--beta2", "--eps", "--rho", "--decay",
                "--weight-decay"}
#: a built-in that reads each named hyperparameter (the baseline of that option)
SPEC_READER = {"--beta1": "adam", "--beta2": "adam", "--eps": "rmsprop", "--rho": "rmsprop", "--decay": "ema",
               "--weight-decay": "weight-decay", "--small": "sam"}

#: options that must exist (subcommand path -> option strings); the walk may find more
MINIMUM = {
    ("derive", "gradient"): LOSS_OPTIONS | DERIVE_COMMON,
    ("derive", "hessian"): LOSS_OPTIONS | DERIVE_COMMON,
    ("derive", "grad-norm"): LOSS_OPTIONS | DERIVE_COMMON,
    ("derive", "minima"): LOSS_OPTIONS | DERIVE_COMMON,
    ("derive", "modified-loss"): LOSS_OPTIONS | DERIVE_COMMON | {
        "--optimizer", "--order", "--beta", "--batches", "--noise", "--budget", "--simplify"} | SPEC_OPTIONS,
    ("check", "order"): LOSS_OPTIONS | SPEC_OPTIONS | {"--beta", "--order", "--start", "--h-max", "--steps", "--time",
                                                       "--tolerance", "--budget", "--out", "--format"},
    ("derive", "stability"): DERIVE_COMMON | {"--optimizer", "--sampling", "--method", "--params", "--init",
                                              "--frozen"},
    ("derive", "mask"): DERIVE_COMMON | {"--method"},
    ("derive", "threshold"): DERIVE_COMMON | {"--tau"},
    ("derive", "jacobian-reg"): DERIVE_COMMON | {"--classes"},
    ("spectrum",): {"--activation", "--n", "--width", "--scale", "--digits", "--out"},
    ("diagram",): {"--eta", "--batch", "--n", "--sampling", "--out"},
    ("verify",): {"--only", "--out", "--json", "--seed", "--jobs"},
    ("readme",): {"--readme", "--results", "--assets", "--jobs"},
}


# ---------------------------------------------------------------------------------------------
# the options, from the parser
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptionSpec:
    path: tuple          # subcommand names, e.g. ("derive", "modified-loss")
    option: str          # the long option string, e.g. "--beta"
    strings: tuple       # every option string, e.g. ("--classes", "-K")
    choices: tuple | None
    nargs: object

    @property
    def id(self) -> str:
        return "-".join(self.path) + ":" + self.option


def _long(strings) -> str:
    longs = [s for s in strings if s.startswith("--")]
    return longs[0] if longs else strings[0]


def enumerate_options(parser: argparse.ArgumentParser | None = None, path: tuple = ()) -> list[OptionSpec]:
    """Every option that takes a value, of every (nested) subcommand."""
    parser = build_parser() if parser is None else parser
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += enumerate_options(sub, path + (name,))
        elif action.option_strings and action.nargs != 0:
            found.append(OptionSpec(path, _long(action.option_strings), tuple(action.option_strings),
                                    tuple(action.choices) if action.choices is not None else None,
                                    action.nargs))
    return found


OPTIONS = enumerate_options()


def kind_of(spec: OptionSpec) -> str:
    """How an option's value is read, which decides its corpus and the expectations."""
    if spec.choices is not None:
        return "choice"
    cmd, opt = spec.path[0], spec.option
    table = {
        "--loss": "loss", "--vars": "names", "--params": "params", "--notation": "free",
        "--model": "lookup", "--activation": "lookup", "--only": "lookup",
        "--beta": "symbolic", "--noise": "symbolic",
        "--tau": "exact", "--scale": "exact", "--eta": "exact", "--budget": "exact", "--simplify": "exact",
        "--order": "int", "--batches": "int", "--classes": "int", "--n": "int", "--width": "int",
        "--digits": "int", "--seed": "int", "--jobs": "int", "--batch": "int",
        "--document": "outfile", "--json": "outfile", "--readme": "infile", "--results": "infile",
        "--assets": "outdir",
    }
    if opt == "--out":
        return "outdir" if cmd in ("verify", "check") else "outfile"
    if spec.path == ("derive", "stability"):
        table.update({"--method": "rule", "--init": "params", "--frozen": "params"})
    if spec.path in (("derive", "modified-loss"), ("check", "order")):
        table.update({"--method": "rule", "--hyper": "params", "--init": "params", "--small": "names",
                      **{o: "symbolic" for o in SPEC_READER if o != "--small"}})
    if spec.path == ("check", "order"):
        table.update({"--start": "free", "--h-max": "exact", "--steps": "int", "--time": "exact",
                      "--tolerance": "exact", "--out": "outdir"})
    return table.get(opt, "unknown")


# ---------------------------------------------------------------------------------------------
# valid baselines
# ---------------------------------------------------------------------------------------------
LOSS_TEXT = [("--loss", "1/2*(y-w*x)**2"), ("--vars", "w"), ("--params", "x=1,y=1/2")]
MODEL = [("--model", "linear2d")]

#: a good value per option, for the in-range spellings (underscores, non-ASCII digits)
GOOD = {"--beta": "1/2", "--noise": "1/10", "--tau": "1/2", "--scale": "3/2", "--budget": "2.0",
        "--simplify": "0.5", "--eta": "0.1", "--order": "1", "--batches": "3", "--classes": "3",
        "--digits": "30", "--width": "8", "--batch": "1", "--seed": "0", "--jobs": "1",
        "--beta1": "1/2", "--beta2": "3/5", "--eps": "1/10", "--rho": "1/2", "--decay": "1/2",
        "--weight-decay": "1/10", "--h-max": "0.01", "--steps": "3", "--time": "1/10",
        "--tolerance": "0.2"}

SUFFIX = {"--document": ".tex", "--json": ".json"}


@dataclass
class Env:
    """Files and folders the baselines and the path corpus use."""
    tmp: Path
    canary: Path
    readme: Path
    results: Path
    adir: Path
    afile: Path
    fifo: Path
    missing: Path
    contents: dict = field(default_factory=dict)

    @classmethod
    def make(cls, tmp: Path) -> "Env":
        from verify.readme import END, START, claims_table
        from verify.registry import all_claims
        tmp.mkdir(parents=True, exist_ok=True)
        claims = all_claims()
        statuses = {c.id: "pass" for c in claims}
        readme = tmp / "README.md"
        readme.write_text(f"# test\n\n{START}\n{claims_table(claims, statuses)}\n{END}\n")
        results = tmp / "results.json"
        results.write_text(json.dumps({"claims": [{"id": c.id, "verdict": "pass"} for c in claims]}))
        adir = tmp / "a-directory"
        adir.mkdir(exist_ok=True)
        afile = tmp / "a-file.txt"
        afile.write_text("x\n")
        fifo = tmp / "a-fifo"
        if not fifo.exists():
            os.mkfifo(fifo)
        contents = {}
        for name, data in {
            "empty": b"", "binary": bytes(range(256)) * 4, "not-utf8": b"\xff\xfe\xfa claims \x80\n",
            "no-markers": b"# a README without the table markers\n",
            "reversed-markers": b"<!-- claims:end -->\n<!-- claims:start -->\n",
            "json-list": b"[]", "json-number": b'{"claims": 5}', "json-no-verdict": b'{"claims": [{"id": 1}]}',
            "json-deep": b"[" * 100000, "json-nul": b'{"claims": "\x00"}',
        }.items():
            p = tmp / f"content-{name}"
            p.write_bytes(data)
            contents[name] = p
        return cls(tmp, tmp / "CANARY", readme, results, adir, afile, fifo, tmp / "missing" / "sub", contents)


def baseline(spec: OptionSpec, env: Env) -> list:
    """A cheap valid command line for the option's subcommand, as (option, value...) items."""
    path, opt = spec.path, spec.option
    if path == ("verify",):
        if opt == "--out":
            return [("--quick",), ("--only", FAST_CLAIM), ("--out", str(env.tmp / "report"))]
        return [("--quick",), ("--only", FAST_CLAIM), ("--no-report",)]
    if path == ("readme",):
        return [("--check",), ("--readme", str(env.readme)), ("--results", str(env.results))]
    if path == ("spectrum",):
        return [("--activation", "relu2"), ("--n", "8"), ("--width", "8")]
    if path == ("diagram",):
        return [("--eta", "0.1"), ("--batch", "1"), ("--n", "10"), ("--out", str(env.tmp / "d.png"))]
    if path == ("check", "order"):
        fast = [("--order", "0"), ("--steps", "3"), ("--time", "1/10"), ("--no-figure",),
                ("--out", str(env.tmp / "order"))]
        if opt == "--out":
            fast = fast[:-1]
        if opt in ("--method", "--hyper", "--init"):
            return [("--method", "v = beta*v - h*g(x); x = x + v"), ("--hyper", "beta=1/2")] + MODEL + fast
        if opt in SPEC_READER:          # hyperparameters in the regime of the expansion (h << 1 - beta)
            name = SPEC_READER[opt]
            hyper = {"adam": [("--beta1", "1/2"), ("--beta2", "3/5"), ("--eps", "1/10")],
                     "rmsprop": [("--rho", "1/2"), ("--eps", "1/2"), ("--start", "1,1/2")],
                     "sam": [("--rho", "1/20")]}.get(name, [])
            return [("--optimizer", name)] + hyper + MODEL + fast
        if opt in ("--loss", "--vars", "--params"):
            return [("--optimizer", "gd"), ("--start", "1")] + LOSS_TEXT + fast
        return [("--optimizer", "gd")] + MODEL + fast
    if path[0] == "derive":
        q = path[1]
        if q == "modified-loss" and opt in ("--method", "--hyper", "--init"):
            return [("--method", "v = beta*v - h*g(x); x = x + v"), ("--hyper", "beta=1/2"), ("--order", "0")] + MODEL
        if q == "modified-loss" and opt in SPEC_READER:
            return [("--optimizer", SPEC_READER[opt]), ("--order", "0")] + MODEL
        if q == "modified-loss":
            if opt in ("--loss", "--vars", "--params"):
                return [("--optimizer", "gd"), ("--order", "1")] + LOSS_TEXT
            if opt == "--noise":
                return [("--optimizer", "label-noise"), ("--order", "1")] + MODEL
            if opt == "--batches":
                return [("--optimizer", "sgd"), ("--order", "1"), ("--model", "least_squares"), ("--batches", "3")]
            return [("--optimizer", "heavy-ball"), ("--order", "1")] + MODEL
        if q in ("gradient", "hessian", "grad-norm", "minima"):
            return list(LOSS_TEXT) if opt in ("--loss", "--vars", "--params") else list(MODEL)
        if q == "stability" and opt in ("--method", "--init"):
            return [("--method", "v = beta*v - h*g(x); x = x + v"), ("--params", "beta=1/2")] + \
                ([("--init", "v=0")] if opt == "--init" else [])
        if q == "stability" and opt == "--frozen":
            return [("--optimizer", "rmsprop"), ("--frozen", "s=1/4")]
        if q == "stability" and opt == "--params":
            return [("--optimizer", "heavy-ball"), ("--params", "beta=1/2")]
        return {"jacobian-reg": [("--classes", "2")], "mask": [("--method", "gd")],
                "threshold": [("--tau", "1/2")], "stability": [("--optimizer", "gd")]}.get(q, [])
    return []


def render(spec: OptionSpec, items: list, value=None, replace: bool = True) -> list[str]:
    """The argv of the baseline with the option under test set to ``value``."""
    argv = list(spec.path)
    placed = False
    for item in items:
        if item[0] in spec.strings and replace and value is not None:
            argv += [spec.option, value]
            placed = True
        else:
            argv += list(item)
    if value is not None and not placed:
        argv += [spec.option, value]
    return argv


def good_value(spec: OptionSpec, items: list) -> str | None:
    for item in items:
        if item[0] in spec.strings and len(item) == 2:
            return item[1]
    return GOOD.get(spec.option)


# ---------------------------------------------------------------------------------------------
# the hostile corpus
# ---------------------------------------------------------------------------------------------
CODE = [
    f"__import__('os').system('touch {MARK}')",
    f'__import__("os").system("touch {MARK}")',
    f"__import__('subprocess').call(['touch', '{MARK}'])",
    f"open('{MARK}', 'w')",
    f"open('{MARK}', 'w').write('x')",
    f"exec(\"open('{MARK}', 'w')\")",
    f"eval(\"open('{MARK}', 'w')\")",
    "eval('1')",
    "exec('1')",
    "compile('1', 'f', 'eval')",
    "implreg_pwned()",
    "implreg_pwned",
    "1 + implreg_pwned()",
    "0*implreg_pwned() + 1/2",
    "1/2 if implreg_pwned() else 1/3",
    "implreg_pwned() or 1",
    "().__class__.__mro__[1].__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "[].__class__.__base__.__subclasses__()",
    "(1).__class__",
    "(1/2).real",
    "0.5.__class__",
    "(lambda: implreg_pwned())()",
    "lambda: 0",
    "[implreg_pwned() for _ in (1,)]",
    "{implreg_pwned() for _ in (1,)}",
    "{k: implreg_pwned() for k in (1,)}",
    "(implreg_pwned() for _ in (1,))",
    "sum(implreg_pwned() for _ in (1,))",
    "f'{implreg_pwned()}'",
    "f\"{__import__('os').system('touch " + MARK + "')}\"",
    "(z := implreg_pwned())",
    "globals()['implreg_pwned']()",
    "getattr(__builtins__, 'implreg_pwned')()",
    "__builtins__",
    "__import__('builtins').implreg_pwned()",
    "vars()",
    "import os",
    "1; import os",
    "1\nimport os",
    f"$(touch {MARK})",
    f"`touch {MARK}`",
    f"; touch {MARK}",
    f"| touch {MARK}",
    f"&& touch {MARK}",
    "Symbol('x')",
    "S('1/2')",
    "sympify('1/2')",
    "Rational('1/2')",
    "nsimplify('0.5')",
    "Integer(1).__class__",
    "Function('f')(1)",
    "'1/2'",
    "b'1'",
    "None",
    "True",
    "...",
    "1j",
    "x=1",
    "{'a': 1}",
    "[1, 2]",
    "(1, 2)",
    "1, 2",
    "*[1]",
    "**{}",
    "@1",
    "1/2 # comment",
    "%(x)s",
    "{0.__class__}",
    "${HOME}",
]

NUMBERS = [
    "0.9.1", "1/", "/2", "1//2", "--", "-", "+", ".", "e", "1e", "1e+", "e5", "1.5e",
    "nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "oo", "-oo", "zoo", "1e999", "-1e999",
    "0x10", "0o17", "0b101", "1_0_0", "\u0661\u0662", "\uff11\uff12", "\u00bd", "\u00b2", "1,5", "1.5.",
    "1/0", "0/0", "0**-1", "1e5j", "1+2j", "", "   ", "\t", "\x00", "1\x00", "\x001", "1\n2", "\n",
    "\u202e", "\u202e12", "1\u200b", "12\u202e", "x" * 100000, "1" * 100000, "9" * 5000,
    "(" * 50000 + ")" * 50000,
]

RESOURCE = [
    "9**9**9", "10**10**10", "9**9**9**9", "factorial(10**9)", "factorial(100000)", "2**10000",
    "2**100000", "exp(exp(exp(100)))", "exp(10**10)", "10**-10**10", "1e999999999", "1e-999999999",
    "9" * 4000, "10**31", "1" + "0" * 31,
]

#: resource entries that are well-formed constants of the loss language (a loss or a
#: parameter may legitimately be a big or tiny number)
LOSS_CONSTANTS = {"10**31", "1e-999999999", "1" + "0" * 31}

#: per (subcommand path, option): values outside the option's range (resource attacks first)
EXTRA = {
    (("spectrum",), "--n"): ["1000000000", "4001", "1", "0", "-1"],
    (("spectrum",), "--width"): ["1000000000", "1", "0", "-1"],
    (("spectrum",), "--digits"): ["100000", "301", "0", "-1"],
    (("spectrum",), "--scale"): ["0", "-1", "-3/2"],
    (("derive", "modified-loss"), "--order"): ["1000000", "-1"],
    (("derive", "modified-loss"), "--batches"): ["1000000000", "0", "-1"],
    (("derive", "modified-loss"), "--budget"): ["1e9", "-1", "nan", "inf"],
    (("derive", "modified-loss"), "--simplify"): ["1e9", "nan", "inf"],
    (("derive", "modified-loss"), "--beta"): ["1", "-1", "3/2"],
    (("derive", "modified-loss"), "--noise"): ["-1", "-1/10"],
    (("derive", "jacobian-reg"), "--classes"): ["100000", "1", "0", "-1"],
    (("derive", "threshold"), "--tau"): ["0", "1", "-1/2", "3/2"],
    (("verify",), "--jobs"): ["100000", "0", "-1"],
    (("verify",), "--seed"): ["-1", "1" + "0" * 30],
    (("readme",), "--jobs"): ["100000", "0", "-1"],
    (("diagram",), "--eta"): ["0", "-1"],
    (("diagram",), "--batch"): ["0", "-1", "1000000000"],
    (("diagram",), "--n"): ["0", "-1"],
}

#: --notation: values that are not ``name=LaTeX`` pairs
NOTATION_BAD = ["loss", "=x", "loss=", "loss={", "loss=}", "1=x", "no such=x", "x" * 100000,
                "\x00", "__import__('os')=x", "loss=L,step"]
#: --notation: odd but possibly legitimate values
NOTATION_ODD = ["", "loss=" + "{" * 50000 + "}" * 50000, r"loss=\input{/etc/passwd}", "loss=\x00",
                "loss=L\nstep=\\eta", "implreg_pwned=x", "loss=" + "x" * 100000]

_ARABIC = str.maketrans("0123456789", "".join(chr(0x660 + d) for d in range(10)))
_FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


def in_range_spellings(good: str | None, kind: str) -> list[str]:
    """The good value spelled with underscores, Arabic-Indic and fullwidth digits, hex.

    Each denotes an in-range number, so only the spelling can make it fail: the
    spec accepts plain integers, decimals and fractions only.
    """
    if not good or not any(c.isdigit() for c in good):
        return []
    out = [good.translate(_ARABIC), good.translate(_FULLWIDTH)]
    if kind == "int":
        out += ["0_" + good] + ([good[0] + "_" + good[1:]] if len(good) > 1 else [])
    elif "/" in good:
        a, b = good.split("/", 1)
        out += [f"{a}_0/{b}_0", f"{hex(int(a))}/{hex(int(b))}"]
    elif "." in good:
        out += [good + "_0"]
    return out


@dataclass
class Case:
    argv: list
    value: str
    strict: bool = True            # must be rejected (else: only behave cleanly)
    needle: str | None = None      # a piece of the value the message must show
    display: str = ""


def _needle(value: str) -> str | None:
    v = value.strip()
    if not v or (v.startswith("-") and not re.match(r"-\.?\d", v)):
        return None         # argparse takes it for an option: "expected one argument" is fine
    return v[:10]


def _plain_names(value: str) -> bool:
    parts = [p.strip() for p in value.split(",")]
    return bool(parts) and all(p.isidentifier() for p in parts)


def path_corpus(kind: str, spec: OptionSpec, env: Env) -> list[tuple[str, bool]]:
    """(path, strict) pairs; strict ones must be rejected."""
    suffix = SUFFIX.get(spec.option, {"spectrum": ".csv", "diagram": ".png"}.get(spec.path[0], ""))
    t = str(env.tmp)
    long_path = "/".join(["d" * 250] * 20) + suffix
    common = [("", True), ("   ", True), ("\x00", True), (f"{t}/a\x00b{suffix}", True),
              (f"/dev/null/x{suffix}", True), ("/proc/self/mem", True), ("a" * 5000 + suffix, True),
              (long_path, True), (f"{t}/" + "n" * 300 + suffix, True), (f"{env.afile}/x{suffix}", True)]
    if kind == "outfile":
        return common + [(f"/proc/implreg-x{suffix}", True), (f"/sys/implreg-x{suffix}", True),
                         (str(env.adir), True),
                         (f"{env.missing}/x{suffix}", False), (f"~nonexistent/x{suffix}", False),
                         (f"{t}/new\nline{suffix}", False)]
    if kind == "outdir":
        extra = [("/proc/implreg-x", True), ("/sys/implreg-x", True), (str(env.afile), True)]
        if spec.option != "--assets":      # accepting these runs the whole asset build
            extra += [(str(env.missing), False), ("~nonexistent/x", False)]
        return common + extra
    # input files
    files = [(str(env.adir), True), (f"{t}/nonexistent.json", True), (f"{env.missing}/x", True),
             ("~nonexistent/x", True), (str(env.fifo), True), ("/dev/zero", True), ("/dev/urandom", True),
             (str(env.contents["binary"]), True), (str(env.contents["not-utf8"]), True),
             (str(env.contents["empty"]), True)]
    if spec.option == "--readme":
        files += [(str(env.contents["no-markers"]), True), (str(env.contents["reversed-markers"]), True)]
    else:
        files += [(str(env.contents[k]), True) for k in ("json-list", "json-number", "json-no-verdict",
                                                         "json-deep", "json-nul")]
    return common + files


def cases_for(spec: OptionSpec, env: Env) -> list[Case]:
    kind = kind_of(spec)
    items = baseline(spec, env)
    canary = str(env.canary)
    general = [v.replace(MARK, canary) for v in CODE + NUMBERS + RESOURCE]
    cases: list[Case] = []

    def add(value, strict=True, needle="auto", argv_value=None):
        value = value.replace(MARK, canary)
        cases.append(Case(render(spec, items, value if argv_value is None else argv_value), value, strict,
                          _needle(value) if needle == "auto" else needle))

    if kind == "choice":
        add(f"__import__('os').system('touch {MARK}')")
        add("")
    elif kind in ("int", "exact", "symbolic", "lookup", "loss", "names", "rule"):
        for v in general:
            if kind == "loss" and v in LOSS_CONSTANTS:
                continue
            if kind == "symbolic" and v.strip().isidentifier():
                continue          # a plain name is a symbolic value there
            if kind == "names" and _plain_names(v):
                continue
            add(v)
        if kind == "names":
            for v in ("w,w", "exp", "lambda", "__class__", "w.real"):
                add(v)
        if kind == "rule":
            for v in ("x = x - h*abs(g(x))", "x = x - h*g(x).__class__", "y = x; x = x - h*g(x)",
                      "x = x - h*g(x); import os", "x = (lambda: 1)()", "x = x - h*g(x)\x00"):
                add(v)
        if kind in ("int", "exact", "symbolic"):
            for v in in_range_spellings(good_value(spec, items), kind):
                add(v)
        for v in EXTRA.get((spec.path, spec.option), []):
            add(v)
    elif kind == "params":
        for v in general:
            if "," in v or "=" in v or v in LOSS_CONSTANTS:
                continue
            add(v, argv_value=f"x={v},y=1/2")     # the value of a parameter
            if "(" in v:
                add(v)                            # the whole option
    elif kind == "free":
        for v in general:
            add(v, strict=False)
        for v in NOTATION_BAD:
            add(v)
        for v in NOTATION_ODD:
            add(v, strict=False)
    elif kind in ("outfile", "outdir", "infile"):
        for v, strict in path_corpus(kind, spec, env):
            add(v, strict=strict)
    else:   # an option nobody classified yet: it must at least behave cleanly
        for v in general:
            add(v, strict=False)
    for c in cases:
        c.display = _short(c.value)
    return cases


def _short(value: str, width: int = 48) -> str:
    r = repr(value)
    return r if len(r) <= width else r[:width - 12] + f"...<{len(value)} ch>"


# ---------------------------------------------------------------------------------------------
# running main() in forked workers
# ---------------------------------------------------------------------------------------------
class Hang(BaseException):
    """Raised by the watchdog inside a run that took longer than TIMEOUT."""


def _alarm(signum, frame):
    raise Hang()


PWNED = {"calls": 0}


def implreg_pwned(*args, **kwargs):
    """Reachable by name from anything that evaluates text with builtins."""
    PWNED["calls"] += 1
    return 1


def _limit_memory():
    try:
        with open("/proc/self/status") as fh:
            vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + WORKER_MEMORY, vm + WORKER_MEMORY))
    except (OSError, ValueError, StopIteration):
        pass


def _worker(cases, start, func, fd, timeout):
    _limit_memory()
    signal.signal(signal.SIGALRM, _alarm)
    with os.fdopen(fd, "w", buffering=1) as out:
        for j in range(start, len(cases)):
            out.write(json.dumps({"start": j}) + "\n")
            out.flush()
            res = func(cases[j], timeout)
            out.write(json.dumps({"done": j, "result": res}) + "\n")
            out.flush()
            if res.get("hang"):
                return      # the interrupted state is not trusted: a fresh worker goes on


def run_isolated(cases, func, timeout=TIMEOUT, grace=GRACE) -> list[dict]:
    """``func(case, timeout)`` for every case, in forked workers; one JSON-able dict per case.

    A worker that does not answer ``timeout + grace`` seconds after a case started
    is killed (the case is marked ``killed``), and a new worker continues.
    """
    results: list = [None] * len(cases)
    i = 0
    while i < len(cases):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 0
            try:
                _worker(cases, i, func, w, timeout)
            except BaseException:
                code = 3
            finally:
                os._exit(code)
        os.close(w)
        current, started, buf = None, time.monotonic(), b""
        with os.fdopen(r, "rb", buffering=0) as pipe:
            while True:
                wait = timeout + grace - (time.monotonic() - started)
                ready, _, _ = select.select([pipe], [], [], max(wait, 0))
                if not ready:
                    current = i if current is None else current
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    results[current] = {"killed": True, "elapsed": time.monotonic() - started}
                    i = current + 1
                    break
                chunk = pipe.read(1 << 16)
                if not chunk:
                    _, status = os.waitpid(pid, 0)
                    if current is not None and results[current] is None:
                        results[current] = {"died": status, "elapsed": time.monotonic() - started}
                    i = (current + 1) if current is not None else len(cases)
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    msg = json.loads(line)
                    if "start" in msg:
                        current, started = msg["start"], time.monotonic()
                    else:
                        results[msg["done"]] = msg["result"]
    return results


def run_cli(argv, capsys, timeout=TIMEOUT, canary: Path | None = None) -> dict:
    """``main(argv)`` under the watchdog; the exit status, the output and what escaped."""
    capsys.readouterr()
    PWNED["calls"] = 0
    rc = error = None
    hang = False
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    try:
        rc = main(list(argv))
    except Hang:
        hang = True
    except BaseException as exc:      # noqa: BLE001 - an escaping exception is a traceback
        error = f"{type(exc).__name__}: {str(exc)[:160]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    created = canary is not None and canary.exists()
    if created:
        canary.unlink()
    return {"rc": rc, "error": error, "hang": hang, "elapsed": elapsed, "out": out, "err": err,
            "pwned": PWNED["calls"], "canary": created}


def _escapes(needle: str) -> set[str]:
    return {needle, repr(needle)[1:-1], needle.encode("unicode_escape").decode("ascii"),
            ascii(needle)[1:-1], " ".join(needle.split())}


def judge(case: Case, spec: OptionSpec, res: dict, canary: Path) -> list[str]:
    """What is wrong with one run (empty: nothing)."""
    if res is None:
        return ["no result"]
    if res.get("killed"):
        return [f"hang: deaf to the watchdog, killed after {res['elapsed']:.0f} s"]
    if "died" in res:
        return [f"worker died (status {res['died']})"]
    bad = []
    if res["hang"]:
        bad.append(f"hang: still running after {TIMEOUT:.0f} s")
    elif res["error"]:
        bad.append(f"traceback: {res['error']}")
    elif res["elapsed"] > TIMEOUT:
        bad.append(f"slow: {res['elapsed']:.1f} s")
    if res["pwned"]:
        bad.append("EXECUTED implreg_pwned()")
    if res.get("canary") or canary.exists():
        bad.append("EXECUTED: canary file created")
        if canary.exists():
            canary.unlink()
    if res["hang"] or res["error"]:
        return bad
    out, err, rc = res["out"], res["err"], res["rc"]
    lines = err.count("\n") + (0 if err.endswith("\n") or not err else 1)
    if not case.strict and rc == 0:
        return bad
    if rc != 2:
        bad.append(f"exit {rc}" + (" (accepted)" if rc == 0 else "") +
                   (f" stderr={_short(err.strip(), 90)}" if err.strip() else ""))
        return bad
    if out:
        bad.append(f"stdout not empty ({_short(out, 40)})")
    if "Traceback" in err:
        bad.append("traceback on stderr")
    if lines != 1:
        bad.append(f"{lines} stderr lines")
    if not any(s in err for s in spec.strings):
        bad.append(f"message does not name {spec.option}: {_short(err.strip(), 110)}")
    elif case.strict and case.needle and not any(e in err for e in _escapes(case.needle)):
        bad.append(f"message does not show the value: {_short(err.strip(), 110)}")
    return bad


def _reason_key(reason: str) -> tuple[str, str]:
    """(group, example) of one reason: the same failure for many values is listed once."""
    for head in ("message does not name", "message does not show the value", "exit "):
        if reason.startswith(head):
            key, _, example = reason.partition(":") if head != "exit " else reason.partition(" stderr=")
            return key.strip(), example.strip()
    if reason.startswith("traceback: "):
        kind = reason[len("traceback: "):].split(":", 1)[0]
        return f"traceback ({kind})", reason[len("traceback: "):]
    return reason, ""


def summarize(failures, per_group: int = 12) -> str:
    """The failures grouped by reason, each group with an example message and its values."""
    groups: dict = {}
    for case, reasons in failures:
        for reason in reasons:
            key, example = _reason_key(reason)
            entry = groups.setdefault(key, {"example": example, "values": []})
            entry["values"].append(_short(case.value, 30))
    lines = []
    for key, entry in sorted(groups.items(), key=lambda kv: -len(kv[1]["values"])):
        values = entry["values"]
        shown = ", ".join(values[:per_group]) + (f", ... (+{len(values) - per_group})"
                                                  if len(values) > per_group else "")
        lines.append(f"  [{len(values)}] {key}" + (f" -- e.g. {entry['example']}" if entry["example"] else ""))
        lines.append(f"      values: {shown}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return Env.make(tmp_path_factory.mktemp("hostile-env"))


@pytest.fixture
def trap(monkeypatch, env, tmp_path):
    """The canary builtin, a clean working directory, and no leftover canary."""
    monkeypatch.setattr(builtins, "implreg_pwned", implreg_pwned, raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    if env.canary.exists():
        env.canary.unlink()
    yield cwd
    assert not (cwd / "CANARY").exists(), "a hostile value created a file in the working directory"


def test_enumeration_covers_the_minimum():
    found = {}
    for spec in OPTIONS:
        found.setdefault(spec.path, set()).update(spec.strings)
    missing = {" ".join(p): sorted(opts - found.get(p, set())) for p, opts in MINIMUM.items()
               if opts - found.get(p, set())}
    assert not missing, f"options no longer found by the parser walk: {missing}"
    assert len(OPTIONS) >= sum(len(v) for v in MINIMUM.values())


def test_every_option_is_classified():
    unknown = [s.id for s in OPTIONS if kind_of(s) == "unknown"]
    assert not unknown, f"classify these options in kind_of() so they get the right corpus: {unknown}"


def test_corpus_is_large():
    assert len(CODE) + len(NUMBERS) + len(RESOURCE) >= 100


def _baselines(env):
    seen = {}
    for spec in OPTIONS:
        argv = render(spec, baseline(spec, env))
        seen.setdefault(tuple(argv), spec.id)
    return seen


def test_baselines_are_valid(env, trap, capsys):
    """Each valid command line the hostile runs start from exits 0 (and warms the caches)."""
    failures = []
    for argv, who in _baselines(env).items():
        res = run_cli(argv, capsys, timeout=60)
        if res["rc"] != 0 or res["error"] or res["hang"]:
            failures.append(f"{' '.join(argv)} (for {who}): rc={res['rc']} error={res['error']} "
                            f"hang={res['hang']} stderr={_short(res['err'].strip(), 200)}")
    assert not failures, "invalid baselines:\n" + "\n".join(failures)


@pytest.mark.parametrize("spec", OPTIONS, ids=[s.id for s in OPTIONS])
def test_hostile_values_rejected(spec, env, trap, capsys):
    cases = cases_for(spec, env)
    assert cases
    results = run_isolated(cases, lambda case, timeout: run_cli(case.argv, capsys, timeout, env.canary))
    failures = [(case, bad) for case, res in zip(cases, results)
                for bad in [judge(case, spec, res, env.canary)] if bad]
    assert not failures, (f"{spec.id} ({kind_of(spec)}): {len(failures)} of {len(cases)} values failed\n"
                          + summarize(failures))


NEGATIVE_OK = [
    ["derive", "modified-loss", "--optimizer", "heavy-ball", "--model", "linear2d", "--order", "1",
     "--beta", "-3/10"],
    ["derive", "modified-loss", "--optimizer", "heavy-ball", "--model", "linear2d", "--order", "1",
     "--beta", "-0.5"],
    ["derive", "modified-loss", "--optimizer", "heavy-ball", "--model", "linear2d", "--order", "1",
     "--beta", "-1e-1"],
    ["derive", "modified-loss", "--optimizer", "nesterov", "--model", "linear2d", "--order", "1",
     "--beta", "-3/10"],
    ["derive", "threshold", "--tau", "1/2"],
    ["derive", "threshold", "--tau", "0.25"],
]


@pytest.mark.parametrize("argv", NEGATIVE_OK, ids=[" ".join(a[1:2] + a[-2:]) for a in NEGATIVE_OK])
def test_numbers_as_separate_arguments_accepted(argv, trap, capsys):
    res = run_cli(argv, capsys, timeout=60)
    assert res["error"] is None and not res["hang"], res
    assert res["rc"] == 0, res["err"]
    assert res["out"].strip() and not res["err"].strip()


# -- resource attacks in a fresh interpreter with a 2 GiB address-space limit --------------------
RESOURCE_ATTACKS = [
    ["spectrum", "--activation", "relu2", "--n", "1000000000", "--width", "8"],
    ["spectrum", "--activation", "relu2", "--n", "8", "--width", "8", "--digits", "100000"],
    ["spectrum", "--activation", "relu2", "--n", "8", "--width", "8", "--scale", "1e999999999"],
    ["derive", "modified-loss", "--optimizer", "heavy-ball", "--model", "linear2d", "--order", "1",
     "--beta", "9**9**9"],
    ["derive", "gradient", "--loss", "factorial(10**9)", "--vars", "w"],
    ["derive", "modified-loss", "--optimizer", "heavy-ball", "--model", "linear2d", "--order", "1000000"],
    ["derive", "threshold", "--tau", "1e-999999999"],
]


def _two_gib():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _spawn(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.Popen([sys.executable, "-m", "verify.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            preexec_fn=_two_gib)


def _finish(proc, started, timeout=30.0):
    try:
        out, err = proc.communicate(timeout=max(0.1, timeout - (time.monotonic() - started)))
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), \
            time.monotonic() - started
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - started


def test_resource_attacks_in_a_subprocess(tmp_path):
    """Two at a time (the machine has two cores), the --help start-up measured the same way."""
    started = time.monotonic()
    helps = [_spawn(["--help"], tmp_path) for _ in range(2)]
    startup = max(_finish(p, started)[3] for p in helps)
    failures = []
    for k in range(0, len(RESOURCE_ATTACKS), 2):
        batch = RESOURCE_ATTACKS[k:k + 2]
        started = time.monotonic()
        procs = [_spawn(args, tmp_path) for args in batch]
        for args, proc in zip(batch, procs):
            rc, out, err, elapsed = _finish(proc, started)
            bad = []
            if rc is None:
                bad.append("still running after 30 s (killed)")
            elif rc != 2:
                bad.append(f"exit {rc}")
            if rc is not None and err.count("\n") != 1:
                bad.append(f"{err.count(chr(10))} stderr lines (last: {_short(err.strip()[-150:], 160)})")
            if "Traceback" in err:
                bad.append("traceback")
            if out:
                bad.append("stdout not empty")
            if elapsed > startup + TIMEOUT:
                bad.append(f"{elapsed:.1f} s > start-up {startup:.1f} s + {TIMEOUT:.0f} s")
            if bad:
                failures.append(f"  {' '.join(args)}: {'; '.join(bad)}")
    assert not failures, "resource attacks not rejected in time:\n" + "\n".join(failures)


# -- values that parse but mean something wrong: each is one clear error, exit 2 ---------------
HB = ["derive", "modified-loss", "--optimizer", "heavy-ball", "--model", "linear2d", "--order", "1"]
LN = ["derive", "modified-loss", "--optimizer", "label-noise", "--model", "linear2d", "--order", "1"]
ACCEPTED_BUT_WRONG = [
    (HB + ["--beta", "h"], "--beta"),                    # the step-size symbol
    (HB + ["--beta", "w1"], "--beta"),                   # a loss variable
    (HB + ["--beta", "x"], "--beta"),                    # a loss parameter
    (LN + ["--noise", "w1"], "--noise"),
    (LN + ["--noise=-inf"], "--noise"),
    (LN + ["--noise=-h"], "--noise"),
    (LN + ["--noise", "inf"], "--noise"),
    (HB + ["--beta", "nan"], "--beta"),
    (["derive", "modified-loss", "--optimizer", "gd", "--loss", "h**2/2", "--vars", "h", "--order", "1"], "--vars"),
    (["derive", "gradient", "--loss", "1/2 # w", "--vars", "w"], "--loss"),
    (["diagram", "--eta", "inf", "--batch", "1"], "--eta"),
    (HB + ["--simplify", "nan"], "--simplify"),
    (HB + ["--budget", "-1"], "--budget"),
    (["readme", "--check", "--jobs", "0"], "--jobs"),
    (["verify", "--seed", "-1", "--no-report"], "--seed"),
    (["derive", "jacobian-reg", "--classes", "\U0001d7d1"], "--classes"),     # MATHEMATICAL BOLD DIGIT ONE
    (["spectrum", "--activation", "relu2", "--n", "1_000", "--width", "8"], "--n"),
    (["readme", "--check", "--results", "/dev/zero"], "--results"),
]


def test_spectrum_out_of_budget_names_the_values_not_certified(capsys):
    # the budget runs out before the certificate is reached: the values are printed with their
    # (too wide) bounds, the report line names them, and the exit is 1
    code = main(["spectrum", "--activation", "tanh", "--n", "48", "--width", "48", "--scale", "1",
                 "--budget", "0.05"])
    out, _ = capsys.readouterr()
    assert code == 1 and "NOT CERTIFIED" in out and "48 values (s_1, s_2" in out


@pytest.mark.parametrize("argv,needle", ACCEPTED_BUT_WRONG, ids=[" ".join(a[-2:]) for a, _ in ACCEPTED_BUT_WRONG])
def test_accepted_but_wrong_values_are_errors(argv, needle, capsys):
    start = time.perf_counter()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out[:200])
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    assert len(err) < 600
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("argv,needle", [
    (["derive", "gradient", "--loss", "w**2", "--vars", "w", "--params", "z=1"], "'z' does not occur"),
    (["derive", "gradient", "--loss", "w**2", "--vars", "w", "--params", "x" * 100000], "at most 40"),
    (["derive", "gradient", "--loss", "w**2", "--vars", "w" * 41], "at most 40"),
])
def test_parameters_that_would_be_ignored_are_errors(argv, needle, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and needle in err and len(err) < 600, err
