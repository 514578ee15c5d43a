"""The claims of the BEA engine pass in quick mode and draw their figures."""
import pytest

from verify.registry import Context, get_claim


@pytest.mark.parametrize("claim_id", ["bea.order.linear2d", "bea.sgd-epoch-average"])
def test_order_and_sgd_claims_pass(claim_id):
    outcome = get_claim(claim_id).func(Context(quick=True, seed=0))
    assert outcome.passed, outcome.measurement


@pytest.mark.parametrize("model", ["sigmoid2d", "linear2d"])
def test_figure3_claims_pass_and_save_figures(model, tmp_path):
    outcome = get_claim(f"seed000.figure3.{model}").func(Context(quick=True, seed=0, figure_dir=tmp_path))
    assert outcome.passed, outcome.measurement
    names = {p.name for p in tmp_path.iterdir()}
    assert {f"seed000_figure3_{model}.pdf", f"seed000_figure3_{model}.png"} <= names
    assert all(p.endswith((".png", ".pdf")) for p in outcome.figures) and len(outcome.figures) >= 2
    d = [outcome.measurement[f"beta={b}: mean distance to ||grad E||^2 flow"] for b in ("0", "0.5", "0.8", "0.9")]
    assert d == sorted(d, reverse=True)
