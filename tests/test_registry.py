"""The claim registry and the first claims."""
import json

import numpy as np
import pytest

import verify.claims  # noqa: F401  (registers the claims before parametrizing)
from analytic.errors import InputError
from verify.registry import REGISTRY, Claim, Context, Outcome, all_claims, claim, get_claim

FIRST = ["seed000.grad-norm-closed-form", "seed000.minima-curve"]


def test_first_claims_registered_with_source_and_statement():
    ids = [c.id for c in all_claims()]
    for cid in FIRST:
        assert cid in ids
        c = get_claim(cid)
        assert c.source.startswith("Ghosh") and c.statement
    assert any(i.startswith("seed000.") and "gd" in i.lower() for i in ids)
    assert ids == sorted(ids)


@pytest.mark.parametrize("cid", [c for c in sorted(REGISTRY) if c.startswith("seed000.")])
def test_seed000_claims_pass_quickly(cid):
    v = get_claim(cid).run(quick=True, seed=0)
    assert v.passed, v.details
    assert v.error is None and v.seconds < 10
    json.dumps(v.to_dict())


def test_unknown_claim_is_input_error():
    with pytest.raises(InputError, match="--only"):
        get_claim("no.such.claim")


def test_decorator_registers_and_runs(tmp_path):
    @claim("test.tmp-claim", statement=r"1 + 1 = 2", source="arithmetic")
    def tmp(ctx):
        return Outcome(1 + 1 == 2, prediction={"sum": 2}, measurement={"sum": 2.0}, tolerance="exact")
    try:
        v = REGISTRY["test.tmp-claim"].run(quick=True, seed=3)
        assert v.passed and v.seed == 3 and v.quick
        d = v.to_dict()
        assert d["verdict"] == "pass" and d["measurement"] == {"sum": 2.0}
    finally:
        REGISTRY.pop("test.tmp-claim", None)


def test_failing_and_raising_claims_become_failed_verdicts():
    def boom(ctx):
        raise ZeroDivisionError("no")
    v = Claim("test.boom", "s", "src", boom).run()
    assert not v.passed and v.error.startswith("ZeroDivisionError")
    v = Claim("test.wrong", "s", "src", lambda ctx: 42).run()
    assert not v.passed and "Outcome" in v.error


def test_duplicate_ids_and_bad_claims_rejected():
    @claim("test.dup", statement="a", source="b")
    def first(ctx):
        return Outcome(True)
    try:
        with pytest.raises(ValueError, match="twice"):
            @claim("test.dup", statement="a", source="b")
            def second(ctx):
                return Outcome(True)
    finally:
        REGISTRY.pop("test.dup", None)
    with pytest.raises(ValueError):
        Claim("has space", "s", "src", lambda ctx: None)
    with pytest.raises(ValueError):
        Claim("x", "s", "", lambda ctx: None)


def test_context_rng_is_seeded_per_stream():
    a, b = Context(seed=1), Context(seed=1)
    assert np.array_equal(a.rng(0).random(5), b.rng(0).random(5))
    assert not np.array_equal(a.rng(0).random(5), a.rng(1).random(5))
    assert not np.array_equal(Context(seed=2).rng(0).random(5), a.rng(0).random(5))


def test_context_progress_and_figures(tmp_path):
    seen = []
    ctx = Context(progress=lambda f, m: seen.append((f, m)), figure_dir=tmp_path)
    ctx.report(1.5, "done")
    assert seen == [(1.0, "done")]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = ctx.save_figure(fig, "line")
    assert [p.rsplit(".", 1)[1] for p in paths] == ["png", "pdf"]
    assert all((tmp_path / f"line.{e}").stat().st_size > 0 for e in ("png", "pdf"))
