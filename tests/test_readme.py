"""The README's claims table is generated from the registry."""
from __future__ import annotations

import json
from pathlib import Path


from verify.cli import main
from verify.readme import END, START, claims_table
from verify.registry import all_claims

ROOT = Path(__file__).resolve().parents[1]


def _results(tmp_path, verdicts: dict) -> Path:
    p = tmp_path / "results.json"
    p.write_text(json.dumps({"claims": [{"id": k, "verdict": v} for k, v in verdicts.items()]}))
    return p


def test_readme_table_lists_every_registered_claim(tmp_path, capsys):
    claims = all_claims()
    statuses = {c.id: "pass" for c in claims}
    statuses[claims[0].id] = "fail"
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{START}\nstale\n{END}\n\ntail\n")
    results = _results(tmp_path, statuses)
    assert main(["readme", "--check", "--readme", str(readme), "--results", str(results)]) == 1
    assert main(["readme", "--write", "--readme", str(readme), "--results", str(results)]) == 0
    assert main(["readme", "--check", "--readme", str(readme), "--results", str(results)]) == 0
    capsys.readouterr()
    text = readme.read_text()
    assert text.startswith("# title\n") and text.endswith(f"{END}\n\ntail\n") and "stale" not in text
    rows = [l for l in text.splitlines() if l.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == [c.id for c in claims]
    assert "**FAIL**" in rows[0] and all(r.endswith("| pass |") for r in rows[1:])
    # a pipe inside a statement never splits a table row
    assert all(r.count(" | ") == 3 for r in rows)


def test_missing_markers_is_an_input_error(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert main(["readme", "--readme", str(readme), "--results", str(_results(tmp_path, {}))]) == 2
    assert "claims:start" in capsys.readouterr().err


def test_claims_table_marks_claims_not_run():
    table = claims_table(all_claims()[:1], {})
    assert table.splitlines()[-1].endswith("| not run |")
