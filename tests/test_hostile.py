"""Hostile and pathological loss strings: rejected fast, naming the token, executing nothing."""
import builtins
import os
import signal
import subprocess
import sys
import time

import pytest

from analytic.errors import InputError, LossSyntaxError
from analytic.loss import parse_loss
from verify.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG = {"hit": 0}


def implreg_pwned(*args, **kwargs):
    """Reachable by name from anything that evaluates text with builtins."""
    FLAG["hit"] += 1
    return 1.0


# (text, a token the error message must name); MARK is replaced by a tmp file path
CORPUS = [
    ("__import__('os').system('touch MARK')", "__import__('os').system"),
    ("__import__('os')", "__import__"),
    ("open('MARK', 'w').write('x')", "open("),
    ("implreg_pwned()", "implreg_pwned"),
    ("w1 + implreg_pwned(w1)", "implreg_pwned"),
    ("exec(\"open('MARK','w')\")", "exec"),
    ("eval('1')", "eval"),
    ("w1.__class__.__mro__[1].__subclasses__()", "w1.__class__.__mro__[1].__subclasses__"),
    ("w1.real", "w1.real"),
    ("(lambda: implreg_pwned())()", "lambda: implreg_pwned()"),
    ("[implreg_pwned() for _ in (1,)]", "[implreg_pwned() for _ in (1,)]"),
    ("{k: 1 for k in (1,)}", "{k: 1 for k in (1,)}"),
    ("sum(w1 for _ in (1, 2))", "sum"),
    ("f'{implreg_pwned()}'", "f'{implreg_pwned()}'"),
    ("'w1'", "'w1'"),
    ("b'w1'", "b'w1'"),
    ("None", "None"),
    ("True + w1", "True"),
    ("(z := implreg_pwned())", "z := implreg_pwned()"),
    ("w1[0]", "w1[0]"),
    ("w1[::-1]", "w1[::-1]"),
    ("10**10**10", "10**10"),
    ("9**9**9**9", "9**9"),
    ("2**10000", "10000"),
    ("((2**64)**64)**64", "(2**64)**64"),
    ("(((w1**64)**64)**64)", "((w1**64)**64)**64"),
    ("(" * 1000 + "w1" + ")" * 1000, "("),
    ("-" * 5000 + "w1", "-----"),
    ("exp(" * 60 + "w1" + ")" * 60, "("),
    ("1" * 400, "1111111111"),
    ("w1*" + "9" * 4000, "9999999999"),
    ("w1+" * 17000, "w1+w1+w1+"),
    ("w1 + w1 " * 5000, "w1 + w1 w1 + w1"),
    ("ｅｘｐ(w1)", "ｅ"),
    ("w1\u200b + 1", "\\u200b"),     # invisible characters are shown escaped
    ("\u202ew1 + 1", "\\u202e"),
    ("＿＿import＿＿('os')", "＿"),
    ("foo(w1)", "foo"),
    ("w1 + q", "q"),
    ("w1^2", "w1^2"),
    ("w1//2", "w1//2"),
    ("w1 % 2", "w1 % 2"),
    ("w1 @ w2", "w1 @ w2"),
    ("~w1", "~w1"),
    ("not w1", "not"),
    ("w1 if w1 else w2", "w1 if w1 else w2"),
    ("w1 < w2", "w1 < w2"),
    ("w1 and w2", "w1 and w2"),
    ("exp(x=w1)", "x"),
    ("max(w1, key=implreg_pwned)", "key"),
    ("exp(*w1)", "*w1"),
    ("max(**w1)", "**"),
    ("w1; import os", ";"),
    ("w1\nimport os", "\\n"),
    ("import os", "import os"),
    ("yield w1", "yield w1"),
    ("await w1", "await w1"),
    ("w1, w2", "w1, w2"),
    ("{w1}", "{w1}"),
    ("...", "..."),
    ("1j*w1", "1j"),
    ("1e999*w1", "1e999"),
    ("exp(w1)(w2)", "exp(w1)"),
    ("exp", "exp"),
    ("log(0)", "log"),
    ("1/0", "0"),
    ("0**-1", "0**-1"),
    ("sqrt(-1)*w1", "sqrt(-1)*w1"),
    ("", ""),
    ("   ", ""),
    ("sigmoid(w1, w2)", "sigmoid"),
    ("__builtins__", "__builtins__"),
    ("globals()['implreg_pwned']()", "globals()['implreg_pwned']"),
    ("w1**exp(exp(exp(100)))", "exp(100)"),
    ("exp(exp(exp(exp(100))))*w1", "exp(100)"),
    ("sigmoid(10**30)*w1", "10**30"),
]


class Hang(BaseException):
    pass


@pytest.fixture
def trap(tmp_path, monkeypatch):
    """A marker path and a builtin reachable by name; both must stay untouched."""
    monkeypatch.setattr(builtins, "implreg_pwned", implreg_pwned, raising=False)
    FLAG["hit"] = 0
    mark = tmp_path / "executed"
    yield str(mark)
    assert not mark.exists(), "a hostile loss created a file"
    assert FLAG["hit"] == 0, "a hostile loss called a function"


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("text,token", CORPUS, ids=[f"h{i:02d}" for i in range(len(CORPUS))])
def test_hostile_loss_rejected(trap, text, token):
    text = text.replace("MARK", trap)
    token = token.replace("MARK", trap)

    def alarm(signum, frame):
        raise Hang()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 10.0)
    start = time.perf_counter()
    try:
        with pytest.raises((LossSyntaxError, InputError)) as info:
            parse_loss(text, "w1,w2")
    except Hang:
        pytest.fail(f"parsing {text[:40]!r} took more than 10 s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert token in message, (token, message)
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize("text", ["__import__('os').system('touch MARK')", "w1^2", "10**10**10",
                                  "implreg_pwned()", "(" * 500 + "w1" + ")" * 500])
def test_hostile_loss_through_the_cli(trap, capsys, text):
    text = text.replace("MARK", trap)
    code = main(["derive", "grad-norm", "--loss", text, "--vars", "w1,w2"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("implreg: error: argument '--loss'") and "loss syntax error" in err


def test_hostile_loss_in_a_fresh_process(tmp_path):
    mark = tmp_path / "executed"
    p = subprocess.run([sys.executable, "-m", "verify.cli", "derive", "gradient", "--loss",
                        f"__import__('os').system('touch {mark}')", "--vars", "w"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={**os.environ, "PYTHONPATH": ROOT})
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert not mark.exists()


def test_hostile_parameter_values_are_rejected(trap):
    with pytest.raises(InputError) as info:
        parse_loss("w1*x", "w1", {"x": "implreg_pwned()"})
    assert "params[x]" in str(info.value) and "implreg_pwned" in str(info.value)
