"""Plots of structured terms (fastgibbs.plots_structured): the time-effect plot shows
the draws' quantiles over the times, the neighbour plot each area's mean effect
against its neighbours' mean (computed here from the draws and the adjacency)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import fastgibbs as fg  # noqa: E402
from test_plots import assert_texts_inside, png_bytes  # noqa: E402

EDGES = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("d", "e"), ("g", "h")]


@pytest.fixture(autouse=True)
def no_pyplot_figure_left_open():
    yield
    assert plt.get_fignums() == []


@pytest.fixture(scope="module")
def series_fit():
    rng = np.random.default_rng(1)
    t = np.repeat(np.arange(2000, 2012), 4)
    data = pd.DataFrame({"t": t, "s": np.tile(["a", "b"], t.size // 2),
                         "y": rng.normal(size=t.size)})
    return fg.fit("y ~ 1 + (1 | s:t)", data, priors={"1|s:t": fg.RandomWalk(by="s")},
                  chains=2, warmup=100, draws=150, seed=1)


@pytest.fixture(scope="module")
def icar_fit():
    rng = np.random.default_rng(2)
    area = np.repeat(list("abcdefg"), 6)          # f: an island (not in EDGES)
    data = pd.DataFrame({"area": area, "y": rng.normal(size=area.size)})
    prior = fg.ICAR(EDGES, levels=list("abcdefgh"))      # h: no data, in g's component
    return fg.fit("y ~ 1 + (1 | area)", data, priors={"1|area": prior}, chains=2,
                  warmup=100, draws=150, seed=2)


def test_time_effect_bands_and_median_are_the_draws_quantiles(series_fit):
    fig = series_fit.plot_time_effect("1|s:t")
    assert png_bytes(fig).startswith(b"\x89PNG")
    assert_texts_inside(fig)
    assert len(fig.axes) == 2                                   # one panel per series
    ax = fig.axes[1]
    assert ax.get_title() == "1|s:t, s = b" and ax.get_xlabel() == "t"
    levels = list(series_fit.levels["1|s:t"])
    own = [levels.index(f"b:{year}") for year in range(2000, 2012)]
    pooled = series_fit.draws("1|s:t").reshape(-1, len(levels))[:, own]
    median = next(line for line in ax.get_lines() if line.get_gid() == "median")
    np.testing.assert_array_equal(median.get_xdata(), np.arange(2000, 2012))
    np.testing.assert_allclose(median.get_ydata(), np.median(pooled, axis=0), rtol=1e-12)
    bands = {c.get_gid(): c for c in ax.collections}
    for gid, (lo, hi) in {"outer_band": (0.05, 0.95), "inner_band": (0.25, 0.75)}.items():
        y = bands[gid].get_paths()[0].vertices[:, 1]
        q = np.quantile(pooled, [lo, hi], axis=0)
        assert np.isclose(y.min(), q[0].min()) and np.isclose(y.max(), q[1].max())
    one = series_fit.plot_time_effect("1|s:t", series=["a"], probs=(0.4, 0.8))
    assert len(one.axes) == 1 and "40% interval" in [t.get_text() for t in
                                                     one.legends[0].get_texts()]


def test_time_effect_of_datetimes_and_bad_arguments(series_fit, icar_fit):
    rng = np.random.default_rng(3)
    dates = pd.to_datetime([f"{y}-07-01" for y in range(2000, 2010)]).repeat(3)
    data = pd.DataFrame({"date": dates, "y": rng.normal(size=len(dates))})
    fit = fg.fit("y ~ 1 + (1 | date)", data, priors={"1|date": fg.AR1()}, chains=1,
                 warmup=50, draws=50, seed=3)
    fig = fit.plot_time_effect("1|date")
    x = next(line for line in fig.axes[0].get_lines() if line.get_gid() == "median").get_xdata()
    assert np.array_equal(np.asarray(x, dtype="datetime64[ns]"), np.unique(dates.to_numpy()))
    # after 2262, beyond nanoseconds (pandas' datetimes are in microseconds)
    late = data.assign(date=pd.to_datetime([f"{y}-07-01" for y in range(2258, 2268)]).repeat(3))
    fig = fg.fit("y ~ 1 + (1 | date)", late, priors={"1|date": fg.RandomWalk()}, chains=1,
                 warmup=20, draws=20, seed=3).plot_time_effect("1|date")
    x = next(line for line in fig.axes[0].get_lines() if line.get_gid() == "median").get_xdata()
    assert np.array_equal(np.asarray(x, dtype="datetime64[us]"), np.unique(late["date"]))
    with pytest.raises(ValueError, match="RW1 or RW2 or AR1 prior"):
        icar_fit.plot_time_effect("1|area")
    with pytest.raises(ValueError, match="not series"):
        series_fit.plot_time_effect("1|s:t", series=["zz"])
    with pytest.raises(ValueError, match="inner, outer"):
        series_fit.plot_time_effect("1|s:t", probs=(0.9, 0.5))
    with pytest.raises(ValueError, match="ICAR or BYM2 prior"):
        series_fit.plot_neighbours("1|s:t")


def test_time_effect_series_by_value():
    """series= names series by label or by the by column's value, one or a list
    (series=1 raised "'int' object is not iterable", series=[1.0] was not found)."""
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"t": np.tile(np.arange(2000, 2006), 3), "s": np.repeat([1, 2, 3], 6),
                         "y": rng.normal(size=18)})
    fit = fg.fit("y ~ 1 + (1 | s:t)", data, priors={"1|s:t": fg.RandomWalk(by="s")},
                 chains=1, warmup=20, draws=20, seed=1)
    for series, n in [(1, 1), (np.int64(2), 1), ("3", 1), ([1.0, "2"], 2), (np.array([1, 3]), 2)]:
        fig = fit.plot_time_effect("1|s:t", series=series)
        assert len(fig.axes) == n
    with pytest.raises(ValueError, match=r"series \['4'\] are not series of '1\|s:t' "
                                         r"\(its series: \['1', '2', '3'\]\)"):
        fit.plot_time_effect("1|s:t", series=4)


def test_neighbour_plot_points_are_the_mean_effects(icar_fit):
    fig = icar_fit.plot_neighbours("1|area")
    assert png_bytes(fig).startswith(b"\x89PNG")
    assert_texts_inside(fig)
    ax = fig.axes[0]
    levels = list(icar_fit.levels["1|area"])
    assert "f" in levels and "h" in levels               # the island, g's data-less neighbour
    neighbours = {a: [] for a in levels}
    for a, b in EDGES:
        neighbours[a].append(b)
        neighbours[b].append(a)
    u = icar_fit.draws("1|area").reshape(-1, len(levels))
    shown = [a for a in levels if neighbours[a]]          # the island f has no point
    x = [u[:, [levels.index(b) for b in neighbours[a]]].mean(axis=1).mean() for a in shown]
    y = [u[:, levels.index(a)].mean() for a in shown]
    point = next(line for line in ax.get_lines() if line.get_gid() == "point")
    np.testing.assert_allclose(point.get_xdata(), x, rtol=1e-12)
    np.testing.assert_allclose(point.get_ydata(), y, rtol=1e-12)
    assert sorted(t.get_text() for t in ax.texts) == sorted(shown)
    assert ax.get_title().startswith(f"1|area: {len(shown)} areas with neighbours, corr")
    assert not icar_fit.plot_neighbours("1|area", labels=False).axes[0].texts
