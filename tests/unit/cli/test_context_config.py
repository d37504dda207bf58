"""The context in use when config.json is broken: docker warns and goes on."""

from wharf.cli import contexts


def test_a_config_that_is_not_json_means_the_default_context(tmp_path, monkeypatch, capsys):
    (tmp_path / "config.json").write_text("{bad")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert contexts.resolve(None, None) == contexts.DEFAULT
    assert capsys.readouterr().err.startswith("WARNING: Error loading config file: ")
