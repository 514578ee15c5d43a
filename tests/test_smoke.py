from verify.cli import main


def test_cli_models_lists_sigmoid2d(capsys):
    assert main(["models"]) == 0
    assert "sigmoid2d" in capsys.readouterr().out


def test_cli_bad_loss_exits_2(capsys):
    assert main(["derive", "gradient", "--loss", "w.__class__", "--vars", "w"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "attribute" in err
