"""Where the app finds its shipped files: the checkout, else the data files a wheel installs."""

from __future__ import annotations

import sys

from emomv_desktop.engine import paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli for 3.10 (in the test extra there)
    import tomli as tomllib


def test_resources_come_from_the_checkout_first(monkeypatch, tmp_path):
    prefix = tmp_path / "venv"
    (prefix / "share" / paths.APP_NAME).mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.delenv("EMOMV_MODEL", raising=False)
    assert paths.resources_dir() == paths.RESOURCES_DIR  # the checkout (or an editable install) wins
    assert paths.model_path() == paths.RESOURCES_DIR / paths.SHIPPED_MODEL_NAME


def test_an_installed_wheel_finds_its_data_files(monkeypatch, tmp_path):
    prefix = tmp_path / "venv"
    shared = prefix / "share" / paths.APP_NAME
    shared.mkdir(parents=True)
    monkeypatch.setattr(paths, "RESOURCES_DIR", tmp_path / "site-packages" / "resources")  # no checkout
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.delenv("EMOMV_MODEL", raising=False)
    assert paths.model_path() == shared / paths.SHIPPED_MODEL_NAME
    monkeypatch.setenv("EMOMV_MODEL", str(tmp_path / "mine.pt"))
    assert paths.model_path() == tmp_path / "mine.pt"


def test_the_wheel_ships_what_resources_holds():
    """pyproject's data-files list every shipped file, so a wheel install has the model, its card and the icon."""
    config = tomllib.loads((paths.PROJECT_ROOT / "pyproject.toml").read_text())
    listed = {name for files in config["tool"]["setuptools"]["data-files"].values() for name in files}
    shipped = {str(p.relative_to(paths.PROJECT_ROOT)) for p in paths.RESOURCES_DIR.rglob("*") if p.is_file()}
    assert shipped == listed
