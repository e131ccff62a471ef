"""crfkit.plotting: files written atomically in the format of their suffix, bad input rejected."""

import sys

import numpy as np
import pytest

import crfkit
from crfkit import Curve, CurveSet
from crfkit.evaluation.table import ComparisonTable

pytest.importorskip("matplotlib")

from crfkit import plotting  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GRID = np.linspace(0.0, 1.0, 1024)


def gamma_set(n=5, kind="forward"):
    values = np.stack([GRID ** (1.0 / g) for g in np.linspace(1.2, 3.0, n)])
    cs = CurveSet(values, names=[f"g{i}" for i in range(n)], name="gammas")
    return cs if kind == "forward" else cs.inverse()


def small_table():
    cols = ["Gamma", "Poly-5", "GGCM-3", "EMoR-5", "PCA(x)-3", "PCA(x)-3 (cv)"]
    values = np.array([
        [0.05, 0.006, 0.009, 0.002, 0.004, 0.005],
        [0.04, 0.005, np.nan, 0.0018, 0.003, 0.0045],
    ])
    n_params = {"Gamma": 1, "Poly-5": 5, "GGCM-3": 3, "EMoR-5": 5, "PCA(x)-3": 3, "PCA(x)-3 (cv)": 3}
    return ComparisonTable(["A", "invA"], cols, values, n_params, {"A": 3, "invA": 3})


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_MAGIC


def assert_no_temp_files(folder):
    assert [p.name for p in folder.iterdir() if ".tmp" in p.name] == []


def test_plot_curves_png(tmp_path):
    from matplotlib.figure import Figure

    out = tmp_path / "curves.png"
    fig = plotting.plot_curves(Curve.gamma(2.2), path=out, title="gamma 2.2")
    assert isinstance(fig, Figure)
    assert_png(out)
    assert_no_temp_files(tmp_path)


def test_plot_curves_set_and_list(tmp_path):
    cs = gamma_set(30)
    fig = plotting.plot_curves(cs, path=tmp_path / "set.png")
    assert_png(tmp_path / "set.png")
    assert len(fig.axes[0].lines) == 30
    assert fig.axes[0].get_xlabel().startswith("irradiance")
    fig = plotting.plot_curves(list(gamma_set(3)), path=tmp_path / "list.png", color="k")
    assert_png(tmp_path / "list.png")
    assert fig.axes[0].get_legend() is not None


def test_inverse_curves_use_brightness_axis():
    fig = plotting.plot_curves(gamma_set(3, kind="inverse"))
    assert fig.axes[0].get_xlabel().startswith("brightness")


@pytest.mark.parametrize("suffix, magic", [(".pdf", b"%PDF"), (".svg", b"<?xml"), (".PNG", PNG_MAGIC)])
def test_other_formats_follow_suffix(tmp_path, suffix, magic):
    out = tmp_path / f"curves{suffix}"
    plotting.plot_curves(gamma_set(2), path=out)
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 500


@pytest.mark.parametrize("name", ["plot.jpgx", "plot.txt", "plot", "plot.png.bak"])
def test_bad_suffix_raises(tmp_path, name):
    with pytest.raises(crfkit.ValidationError, match="suffix"):
        plotting.plot_curves(Curve.gamma(2.2), path=tmp_path / name)
    with pytest.raises(crfkit.ValidationError):
        plotting.plot_rmse_vs_params(small_table(), path=tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_raises(tmp_path):
    with pytest.raises(crfkit.ValidationError, match="does not exist"):
        plotting.plot_curves(Curve.gamma(2.2), path=tmp_path / "nope" / "c.png")


def test_overwrite_is_atomic_replace(tmp_path):
    out = tmp_path / "c.png"
    out.write_bytes(b"old")
    plotting.plot_curves(Curve.gamma(2.2), path=out)
    assert_png(out)
    assert_no_temp_files(tmp_path)


def test_bad_curves_argument():
    with pytest.raises(crfkit.ValidationError):
        plotting.plot_curves([])
    with pytest.raises(crfkit.ValidationError):
        plotting.plot_curves([Curve.gamma(2.2), np.zeros(1024)])
    with pytest.raises(crfkit.ValidationError):
        plotting.plot_curves("dorf")


def test_draws_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plotting.plot_curves(Curve.gamma(2.0), ax=ax) is fig
    assert len(ax.lines) == 1


def test_curve_plot_method(tmp_path):
    Curve.gamma(1.8).plot(path=tmp_path / "m.png")
    assert_png(tmp_path / "m.png")


def test_plot_fit_curve(tmp_path):
    c = Curve(GRID**0.45, name="g")
    res = crfkit.fit(c, model="polynomial", k=5)
    fig = plotting.plot_fit(c, res, path=tmp_path / "fit.png")
    assert_png(tmp_path / "fit.png")
    assert len(fig.axes) == 2  # data + fit, residuals
    assert "Poly-5" in fig._suptitle.get_text()


def test_plot_fit_samples_and_sets(tmp_path):
    x = np.linspace(0, 1, 24)
    y = x**0.5
    res = crfkit.fit((x, y), model="gamma")
    plotting.plot_fit((x, y), res, path=tmp_path / "s.svg")
    assert (tmp_path / "s.svg").read_bytes().startswith(b"<?xml")
    cs = gamma_set(4)
    res = crfkit.fit(cs, model="ggcm", k=2)
    plotting.plot_fit(cs, res, path=tmp_path / "set.png", index=2)
    assert_png(tmp_path / "set.png")
    with pytest.raises(crfkit.ValidationError):
        plotting.plot_fit(cs, res, index=9)
    with pytest.raises(crfkit.ValidationError):
        plotting.plot_fit(cs, res, path=tmp_path / "fit.gif")


def test_plot_rmse_vs_params(tmp_path):
    table = small_table()
    fig = plotting.plot_rmse_vs_params(table, path=tmp_path / "t.png")
    assert_png(tmp_path / "t.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "number of parameters"
    # the table's own method goes through the same function
    table.plot(tmp_path / "t2.png")
    assert_png(tmp_path / "t2.png")
    with pytest.raises(crfkit.ValidationError):
        plotting.plot_rmse_vs_params({"rows": []})


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(crfkit.MissingDependencyError, match=r"crfkit\[plot\]"):
        plotting.plot_curves(Curve.gamma(2.2))


@pytest.mark.realdata
def test_real_table_plot(tmp_path):
    table = crfkit.compare_models(cv_folds=2)
    fig = table.plot(tmp_path / "table.png")
    assert_png(tmp_path / "table.png")
    assert fig.axes[0].get_yscale() == "log"
