import os

from gas.local.environ import EnvPatch, patched_environ


def test_patch_restores_each_variable_as_it_was_before_its_first_change(monkeypatch):
    monkeypatch.setenv("GAS_T_KEEP", "original")
    monkeypatch.setenv("GAS_T_GONE", "present")
    monkeypatch.delenv("GAS_T_NEW", raising=False)
    patch = EnvPatch()
    patch.set({"GAS_T_KEEP": "one", "GAS_T_NEW": "x"})
    patch.set({"GAS_T_KEEP": "two"})             # a second change must not become the "before"
    patch.clear(["GAS_T_GONE", "GAS_T_ABSENT"])
    assert os.environ["GAS_T_KEEP"] == "two" and "GAS_T_GONE" not in os.environ
    patch.undo()
    assert os.environ["GAS_T_KEEP"] == "original" and os.environ["GAS_T_GONE"] == "present"
    assert "GAS_T_NEW" not in os.environ and "GAS_T_ABSENT" not in os.environ


def test_patched_environ_does_not_clear_what_it_sets_and_undoes_on_error(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "mine")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    try:
        with patched_environ({"AWS_REGION": "us-east-1"}, clear=["AWS_PROFILE", "AWS_REGION"]):
            assert os.environ["AWS_REGION"] == "us-east-1" and "AWS_PROFILE" not in os.environ
            raise RuntimeError
    except RuntimeError:
        pass
    assert os.environ["AWS_PROFILE"] == "mine" and os.environ["AWS_REGION"] == "eu-west-1"
