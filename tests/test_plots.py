"""Plots: each renders to PNG under Agg and has the panels, labels and artists it promises."""
import contextlib
import dataclasses
import fnmatch
import io
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import fastgibbs as fg  # noqa: E402

N_CHAINS, N_WARMUP, N_DRAWS, THIN = 3, 40, 120, 2


@pytest.fixture(scope="module")
def nes_fit():
    return fg.fit("real_ideo ~ 1 + partyid7 + (1 | state)", fg.datasets.load("nes2000"),
                  chains=N_CHAINS, warmup=N_WARMUP, draws=N_DRAWS, thin=THIN, seed=3)


@pytest.fixture(scope="module")
def sleep_fit():
    return fg.fit("Reaction ~ Days + (1 + Days | Subject)", fg.datasets.load("sleepstudy"),
                  chains=2, warmup=50, draws=100, seed=3)


@pytest.fixture(scope="module")
def logit_fit():
    return fg.fit("use ~ age + urban + (1 | district)", fg.datasets.load("contraception"),
                  family="bernoulli", chains=2, warmup=50, draws=100, seed=3)


@pytest.fixture(autouse=True)
def no_pyplot_figure_left_open():
    """Plots are made without pyplot: after every test, pyplot has no open figure."""
    yield
    assert plt.get_fignums() == []


def chain_lines(ax):
    """Lines drawn per chain (reference lines carry a gid)."""
    return [line for line in ax.get_lines() if line.get_gid() is None]


def png_bytes(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


def drawn_boxes(fig):
    """Window extents of what the drawn figure shows: each panel with its labels and
    tick labels, the legends and the figure's own texts (suptitle)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return ([ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
            + [legend.get_window_extent(renderer) for legend in fig.legends]
            + [text.get_window_extent(renderer) for text in fig.texts if text.get_text()])


def assert_texts_inside(fig):
    """No label, title, tick label or legend is cut off at the figure's edge."""
    width, height = fig.canvas.get_width_height()
    for box in drawn_boxes(fig):
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1


def assert_disjoint(labels):
    fig = labels[0].figure
    fig.canvas.draw()
    boxes = [label.get_window_extent(fig.canvas.get_renderer()) for label in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)


PLOTS = {
    "trace": lambda fit: fit.plot_trace(),
    "rank": lambda fit: fit.plot_trace(kind="rank"),
    "pairs": lambda fit: fit.plot_pairs(),
    "density": lambda fit: fit.plot_density(),
    "autocorr": lambda fit: fit.plot_autocorr(),
    "intervals": lambda fit: fit.plot_intervals("1|state"),
}


@pytest.mark.parametrize("kind", sorted(PLOTS))
def test_every_plot_returns_a_figure_that_renders_to_png(nes_fit, kind):
    fig = PLOTS[kind](nes_fit)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert png_bytes(fig).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("kind", sorted(PLOTS))
def test_every_plot_keeps_its_texts_inside_the_figure(sleep_fit, kind):
    term = "Days|Subject" if kind == "intervals" else None
    fig = PLOTS[kind](sleep_fit) if term is None else sleep_fit.plot_intervals(term)
    assert_texts_inside(fig)


def test_thirty_plots_leave_no_pyplot_figure_open(nes_fit):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # pyplot warns from 20 open figures
        # every kind once, then the quickest (one parameter's trace) up to 30
        figures = [PLOTS[kind](nes_fit) for kind in sorted(PLOTS)]
        figures += [nes_fit.plot_trace("sigma") for _ in range(30 - len(figures))]
    assert len(figures) == 30 and plt.get_fignums() == []


def test_a_figure_displays_in_jupyter_as_png(nes_fit):
    fig = nes_fit.plot_trace("sigma")
    assert fig._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")
    ipython = pytest.importorskip("IPython.core.formatters")
    png = ipython.PNGFormatter()(fig)
    assert png is not None and png.startswith(b"\x89PNG")


@pytest.mark.parametrize("kind", sorted(PLOTS))
def test_saving_a_plot_draws_it_once(nes_fit, kind, monkeypatch):
    # laid out when made: no layout engine left to make savefig lay it out again
    fig = PLOTS[kind](nes_fit)
    draws = []
    original = matplotlib.figure.Figure.draw
    monkeypatch.setattr(matplotlib.figure.Figure, "draw",
                        lambda self, renderer: draws.append(1) or original(self, renderer))
    png_bytes(fig)
    assert len(draws) == 1 and fig.get_layout_engine() is None


@pytest.mark.parametrize("kind", sorted(PLOTS))
def test_the_layout_is_matplotlibs_tight_layout(nes_fit, kind, monkeypatch):
    # each panel is measured once, not once per pass of matplotlib's tight_layout; the
    # subplot parameters are those of tight_layout measuring in both passes
    from fastgibbs import _figure
    fig = PLOTS[kind](nes_fit)
    monkeypatch.setattr(_figure, "_measured_once", lambda axes: contextlib.nullcontext())
    again = PLOTS[kind](nes_fit)
    assert vars(fig.subplotpars) == vars(again.subplotpars)
    assert all("get_tightbbox" not in vars(ax) for ax in fig.axes)   # the methods are back


def test_the_layout_measures_each_panel_once(nes_fit, monkeypatch):
    calls = []
    original = matplotlib.axes.Axes.get_tightbbox
    monkeypatch.setattr(matplotlib.axes.Axes, "get_tightbbox",
                        lambda self, *a, **k: calls.append(self) or original(self, *a, **k))
    fig = nes_fit.plot_trace()
    assert sorted(map(id, calls)) == sorted(map(id, fig.axes))


def test_importing_fastgibbs_does_not_import_matplotlib():
    code = "import sys, fastgibbs; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# trace ----------------------------------------------------------------------------------

def test_trace_has_one_titled_panel_per_parameter(nes_fit):
    pars = ["partyid7", "sigma", "1|state_sigma"]
    fig = nes_fit.plot_trace(pars)
    assert [ax.get_title() for ax in fig.axes] == pars
    assert fig.axes[-1].get_xlabel() == "sweep"


def test_trace_default_shows_every_parameter_but_group_effects(nes_fit):
    fig = nes_fit.plot_trace()
    assert [ax.get_title() for ax in fig.axes] == ["Intercept", "partyid7", "sigma",
                                                   "1|state_sigma"]


def test_trace_draws_one_line_per_chain_through_warmup_and_draws(nes_fit):
    fig = nes_fit.plot_trace("sigma")
    lines = chain_lines(fig.axes[0])
    assert len(lines) == N_CHAINS
    assert len({line.get_color() for line in lines}) == N_CHAINS
    for c, line in enumerate(lines):
        x, y = line.get_data()
        np.testing.assert_array_equal(y, np.concatenate([nes_fit.draws("sigma", warmup=True)[c],
                                                         nes_fit.draws("sigma")[c]]))
        # warmup keeps every sweep; kept draws are every THIN-th sweep after it
        assert x[0] == 1 and x[N_WARMUP - 1] == N_WARMUP
        assert x[-1] == N_WARMUP + THIN * N_DRAWS


def test_trace_shades_the_warmup(nes_fit):
    fig = nes_fit.plot_trace(["sigma", "partyid7"])
    for ax in fig.axes:
        shades = [p for p in ax.patches if p.get_gid() == "warmup"]
        assert len(shades) == 1
        x0, x1 = shades[0].get_x(), shades[0].get_x() + shades[0].get_width()
        assert (x0, x1) == (0.5, N_WARMUP + 0.5)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["warmup"] + [f"chain {c}" for c in range(N_CHAINS)]


def test_trace_without_warmup_has_no_shading_and_only_kept_draws(nes_fit):
    fig = nes_fit.plot_trace("sigma", include_warmup=False)
    ax = fig.axes[0]
    assert not [p for p in ax.patches if p.get_gid() == "warmup"]
    assert all(len(line.get_xdata()) == N_DRAWS for line in chain_lines(ax))


def test_trace_y_range_is_the_draws_range_and_a_wild_warmup_is_clipped(nes_fit):
    warmup = nes_fit.warmup_array.copy()
    warmup[0, 0, nes_fit.names.index("sigma")] = 50.0     # a first draw far off
    fit = dataclasses.replace(nes_fit, warmup_array=warmup, _summary_cache={})
    fig = fit.plot_trace(["sigma", "partyid7"])
    for ax, name in zip(fig.axes, ["sigma", "partyid7"]):
        draws, warm = fit.draws(name), fit.draws(name, warmup=True)
        margin = 0.05 * (draws.max() - draws.min())
        low, high = draws.min() - margin, draws.max() + margin
        assert ax.get_ylim() == pytest.approx((low, high), rel=1e-12)
        clipped = [t for t in ax.texts if t.get_gid() == "warmup_clipped"]
        assert len(clipped) == int(warm.min() < low or warm.max() > high)
    assert [t.get_text() for t in fig.axes[0].texts] == ["warmup clipped"]


def test_trace_of_a_group_term_has_a_panel_per_level(nes_fit):
    fig = nes_fit.plot_trace("1|state", include_warmup=False)
    levels = nes_fit.levels["1|state"]
    assert [ax.get_title() for ax in fig.axes] == [f"1|state[{lv}]" for lv in levels]


@pytest.mark.parametrize("pattern", ["*_sigma", "1|state?1*"])
def test_trace_selects_by_glob_pattern(nes_fit, pattern):
    fig = nes_fit.plot_trace(pattern)
    expected = [n for n in nes_fit.names if fnmatch.fnmatchcase(n, pattern)]
    assert len(expected) >= 1
    assert [ax.get_title() for ax in fig.axes] == expected


def test_trace_rejects_unknown_kind_and_names(nes_fit):
    with pytest.raises(ValueError, match="kind"):
        nes_fit.plot_trace(kind="spaghetti")
    with pytest.raises(KeyError, match="no parameter"):
        nes_fit.plot_trace("nonsense")


def test_rank_plot_histograms_every_chain_over_all_ranks(nes_fit):
    bins = 12
    fig = nes_fit.plot_trace(["sigma", "partyid7"], kind="rank", bins=bins)
    assert [ax.get_title() for ax in fig.axes] == ["sigma", "partyid7"]
    for ax in fig.axes:
        lines = chain_lines(ax)
        assert len(lines) == N_CHAINS
        # step lines repeat the last count: bins + 1 points, counts summing to the draws
        for line in lines:
            counts = line.get_ydata()[:-1]
            assert len(counts) == bins and counts.sum() == N_DRAWS
        uniform = [line for line in ax.get_lines() if line.get_gid() == "uniform"]
        assert uniform[0].get_ydata()[0] == pytest.approx(N_DRAWS / bins)


def test_rank_plot_has_a_count_scale_and_the_expected_uniform_band(nes_fit):
    from scipy.stats import binom
    bins = 12
    fig = nes_fit.plot_trace(["sigma", "partyid7"], kind="rank", bins=bins)
    fig.canvas.draw()
    low, high = binom.ppf([0.025, 0.975], N_DRAWS, 1 / bins)
    for ax in fig.axes:
        band = next(p for p in ax.patches if p.get_gid() == "uniform_band")
        assert (band.get_y(), band.get_y() + band.get_height()) == (low, high)
        assert ax.get_ylabel() == "draws per bin"
        assert [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        bottom, top = ax.get_ylim()
        for line in chain_lines(ax):
            assert bottom <= line.get_ydata().min() and line.get_ydata().max() <= top
    assert fig.legends[0].get_texts()[0].get_text() == "95% of uniform counts"


# pairs ----------------------------------------------------------------------------------

def test_pairs_is_a_lower_triangle_with_histograms_on_the_diagonal(nes_fit):
    pars = ["Intercept", "partyid7", "sigma"]
    fig = nes_fit.plot_pairs(pars)
    assert len(fig.axes) == 3 * 4 // 2
    diagonal = [ax for ax in fig.axes if not ax.collections]
    scatter = [ax for ax in fig.axes if ax.collections]
    assert len(diagonal) == 3 and all(ax.patches for ax in diagonal)
    assert len(scatter) == 3 and all(len(ax.collections) == N_CHAINS for ax in scatter)
    assert sorted(ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()) == sorted(pars)
    assert sorted(ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()) == ["partyid7", "sigma"]


def test_pairs_scatter_shows_the_draws_of_each_chain(nes_fit):
    fig = nes_fit.plot_pairs(["partyid7", "sigma"], max_points=10_000)
    ax = next(ax for ax in fig.axes if ax.collections)
    for c, points in enumerate(ax.collections):
        np.testing.assert_array_equal(points.get_offsets()[:, 0], nes_fit.draws("partyid7")[c])
        np.testing.assert_array_equal(points.get_offsets()[:, 1], nes_fit.draws("sigma")[c])


@pytest.mark.parametrize("max_points", [N_CHAINS, 50, 200])
def test_pairs_thins_to_at_most_max_points(nes_fit, max_points):
    fig = nes_fit.plot_pairs(["partyid7", "sigma"], max_points=max_points)
    ax = next(ax for ax in fig.axes if ax.collections)
    shown = sum(len(points.get_offsets()) for points in ax.collections)
    assert max_points // 2 < shown <= max_points


def test_pairs_wraps_long_names_so_labels_neither_overlap_nor_leave_the_figure(sleep_fit):
    fig = sleep_fit.plot_pairs()
    corr = "1|Subject~Days|Subject_corr"
    assert "1|Subject~Days|\nSubject_corr" in [ax.get_xlabel() for ax in fig.axes]
    assert "1|Subject~Days|\nSubject_corr".replace("\n", "") == corr
    assert_texts_inside(fig)
    assert_disjoint([ax.xaxis.label for ax in fig.axes if ax.get_xlabel()])
    assert_disjoint([ax.yaxis.label for ax in fig.axes if ax.get_ylabel()])


def test_pairs_refuses_too_many_parameters(nes_fit):
    with pytest.raises(ValueError, match="at most"):
        nes_fit.plot_pairs("1|state")


# density and autocorrelation --------------------------------------------------------------

def test_density_overlays_one_curve_per_chain(nes_fit):
    fig = nes_fit.plot_density(["partyid7", "1|state_sigma"])
    assert [ax.get_title() for ax in fig.axes] == ["partyid7", "1|state_sigma"]
    for ax in fig.axes:
        lines = chain_lines(ax)
        assert len(lines) == N_CHAINS
        for line in lines:
            assert np.all(line.get_ydata() >= 0) and line.get_ydata().max() > 0


def test_density_of_an_unbounded_parameter_is_scipys_gaussian_kde(nes_fit):
    from scipy.stats import gaussian_kde
    lines = chain_lines(nes_fit.plot_density("partyid7").axes[0])
    for c, line in enumerate(lines):
        x, y = line.get_data()
        np.testing.assert_allclose(y, gaussian_kde(nes_fit.draws("partyid7")[c])(x), rtol=1e-10)


def _integral(line):
    x, y = line.get_data()
    return np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2)


def test_density_of_an_sd_is_reflected_at_zero(nes_fit):
    from scipy.stats import gaussian_kde
    draws = nes_fit.draws_array.copy()
    sd = nes_fit.names.index("1|state_sigma")
    draws[:, :, sd] = np.abs(np.random.default_rng(4).normal(0, 0.1, draws.shape[:2]))
    fit = _with_draws(nes_fit, draws)
    for c, line in enumerate(chain_lines(fit.plot_density("1|state_sigma").axes[0])):
        x, y = line.get_data()
        kde = gaussian_kde(draws[c, :, sd])
        assert x[0] == 0.0 and y[0] > 0
        np.testing.assert_allclose(y, kde(x) + kde(-x), rtol=1e-10)
        # the mass a plain KDE puts below 0 is folded back: about one on [0, max + 5%]
        assert _integral(line) == pytest.approx(1.0, abs=0.03)


def test_density_of_a_correlation_stays_in_minus_one_to_one(sleep_fit):
    from scipy.stats import gaussian_kde
    draws = sleep_fit.draws_array.copy()
    corr = sleep_fit.names.index("1|Subject~Days|Subject_corr")
    draws[:, :, corr] = 1 - np.abs(np.random.default_rng(5).normal(0, 0.05, draws.shape[:2]))
    fit = _with_draws(sleep_fit, draws)
    for c, line in enumerate(chain_lines(fit.plot_density(fit.names[corr]).axes[0])):
        x, y = line.get_data()
        kde = gaussian_kde(draws[c, :, corr])
        assert x[-1] == 1.0 and x[0] > -1.0
        np.testing.assert_allclose(y, kde(x) + kde(-2 - x) + kde(2 - x), rtol=1e-10)
        assert _integral(line) == pytest.approx(1.0, abs=0.03)


def test_star_sigma_selects_every_sd_and_star_underscore_sigma_the_group_sds(sleep_fit):
    titles = [ax.get_title() for ax in sleep_fit.plot_density("*sigma").axes]
    assert titles == ["sigma", "1|Subject_sigma", "Days|Subject_sigma"]
    titles = [ax.get_title() for ax in sleep_fit.plot_density("*_sigma").axes]
    assert titles == ["1|Subject_sigma", "Days|Subject_sigma"]


def test_density_of_a_constant_chain_is_a_spike(nes_fit):
    draws = nes_fit.draws_array.copy()
    draws[0, :, nes_fit.names.index("sigma")] = 1.0
    fit = _with_draws(nes_fit, draws)
    lines = chain_lines(fit.plot_density("sigma").axes[0])
    assert len(lines) == N_CHAINS and list(lines[0].get_xdata()) == [1.0, 1.0]


def test_autocorr_starts_at_one_and_matches_the_sample_autocorrelation(nes_fit):
    max_lag = 10
    fig = nes_fit.plot_autocorr(["sigma", "1|state_sigma"], max_lag=max_lag)
    assert [ax.get_title() for ax in fig.axes] == ["sigma", "1|state_sigma"]
    lines = chain_lines(fig.axes[1])
    assert len(lines) == N_CHAINS
    x = nes_fit.draws("1|state_sigma")[1] - nes_fit.draws("1|state_sigma")[1].mean()
    lag3 = np.dot(x[:-3], x[3:]) / np.dot(x, x)
    np.testing.assert_array_equal(lines[1].get_xdata(), np.arange(max_lag + 1))
    assert lines[1].get_ydata()[0] == pytest.approx(1.0)
    assert lines[1].get_ydata()[3] == pytest.approx(lag3, rel=1e-10)


# intervals (caterpillar) -----------------------------------------------------------------

def interval_parts(fig):
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    point = next(line for line in ax.get_lines() if line.get_gid() == "point")
    segments = {c.get_gid(): np.array(c.get_segments()) for c in ax.collections}
    return ax, labels, point, segments


def test_intervals_label_every_group_and_sort_by_estimate(nes_fit):
    fig = nes_fit.plot_intervals("1|state")
    ax, labels, point, _ = interval_parts(fig)
    coef = nes_fit.coef()["state"]["Intercept"]           # posterior mean of beta + u_j
    assert sorted(labels) == sorted(nes_fit.levels["1|state"])
    # bottom to top: increasing estimates, each at its group's label
    np.testing.assert_array_equal(point.get_ydata(), np.arange(len(labels)))
    assert np.all(np.diff(point.get_xdata()) >= 0)
    np.testing.assert_allclose(point.get_xdata(), coef[labels].to_numpy(), rtol=1e-12)
    assert ax.get_ylabel() == "state" and ax.get_title() == "1|state"


def test_intervals_unsorted_list_numbered_levels_in_numeric_order(nes_fit):
    levels = nes_fit.levels["1|state"]
    assert list(levels[:3]) == ["1", "12", "13"]          # sorted as text in the fit
    fig = nes_fit.plot_intervals("1|state", sort=False)
    _, labels, _, _ = interval_parts(fig)
    assert labels[::-1] == sorted(levels, key=int)        # top to bottom: 1, 2, 3, ..., 12


def test_intervals_unsorted_keep_an_order_that_is_not_text_order():
    data = fg.datasets.load("sleepstudy")
    order = sorted(data["Subject"].astype(str).unique(), reverse=True)
    data = data.assign(Subject=pd.Categorical(data["Subject"].astype(str), categories=order))
    fit = fg.fit("Reaction ~ Days + (1 | Subject)", data, chains=1, warmup=20, draws=20, seed=1)
    assert list(fit.levels["1|Subject"]) == order
    _, labels, _, _ = interval_parts(fit.plot_intervals("1|Subject", sort=False))
    assert labels[::-1] == order


@pytest.mark.parametrize("labels, expected", [
    (["1", "12", "13", "2", "-3", "2.5"], ["-3", "1", "2", "2.5", "12", "13"]),
    (["a10", "a9", "b1", "a10b2", "a10b10"], ["a9", "a10", "a10b2", "a10b10", "b1"]),
    (["3:12", "3:2", "10:1"], ["3:2", "3:12", "10:1"]),
])
def test_natural_order_compares_numbers_by_value(labels, expected):
    from fastgibbs.plots import _natural_order
    assert [labels[i] for i in _natural_order(labels)] == expected


def test_intervals_nest_the_50_in_the_95_percent_interval(nes_fit):
    fig = nes_fit.plot_intervals("1|state")
    _, labels, point, seg = interval_parts(fig)
    outer, inner = seg["outer_interval"], seg["inner_interval"]
    assert outer.shape == inner.shape == (len(labels), 2, 2)
    assert np.all(outer[:, 0, 0] <= inner[:, 0, 0]) and np.all(inner[:, 0, 0] <= inner[:, 1, 0])
    assert np.all(inner[:, 1, 0] <= outer[:, 1, 0])
    j = nes_fit.levels["1|state"].index(labels[0])
    values = (nes_fit.draws("1|state")[:, :, j] + nes_fit.draws("Intercept")).ravel()
    np.testing.assert_allclose(outer[0, :, 0], np.quantile(values, [0.025, 0.975]), rtol=1e-12)


def test_intervals_show_population_mean_and_group_sd_band(nes_fit):
    ax = nes_fit.plot_intervals("1|state").axes[0]
    mean = next(line for line in ax.get_lines() if line.get_gid() == "population_mean")
    band = next(p for p in ax.patches if p.get_gid() == "sd_band")
    mu, tau = nes_fit.draws("Intercept").mean(), nes_fit.draws("1|state_sigma").mean()
    assert mean.get_xdata()[0] == pytest.approx(mu)
    assert band.get_x() == pytest.approx(mu - tau) and band.get_width() == pytest.approx(2 * tau)


def test_intervals_options_turn_mean_and_band_off(nes_fit):
    ax = nes_fit.plot_intervals("1|state", show_mean=False, show_sd_band=False).axes[0]
    assert not [line for line in ax.get_lines() if line.get_gid() == "population_mean"]
    assert not [p for p in ax.patches if p.get_gid() == "sd_band"]


def test_intervals_of_deviations_center_on_zero(nes_fit):
    fig = nes_fit.plot_intervals("1|state", add_fixed=False)
    ax, labels, point, _ = interval_parts(fig)
    mean = next(line for line in ax.get_lines() if line.get_gid() == "population_mean")
    assert mean.get_xdata()[0] == 0.0
    ranef = nes_fit.ranef()["state"]["Intercept"]
    np.testing.assert_allclose(point.get_xdata(), ranef[labels].to_numpy(), rtol=1e-10, atol=1e-14)


def test_intervals_of_a_varying_slope_add_the_fixed_slope(sleep_fit):
    ax = sleep_fit.plot_intervals("Days|Subject").axes[0]
    mean = next(line for line in ax.get_lines() if line.get_gid() == "population_mean")
    assert mean.get_xdata()[0] == pytest.approx(sleep_fit.draws("Days").mean())
    assert ax.get_ylabel() == "Subject" and "Days + Days|Subject" in ax.get_xlabel()


def test_intervals_of_plain_parameters_are_labelled_by_name(nes_fit):
    fig = nes_fit.plot_intervals(["partyid7", "sigma"], sort=False)
    ax, labels, _, _ = interval_parts(fig)
    assert labels == ["sigma", "partyid7"]
    assert not [p for p in ax.patches if p.get_gid() == "sd_band"]


def _with_draws(fit, draws):
    import dataclasses
    return dataclasses.replace(fit, draws_array=draws, _summary_cache={})


def test_interval_title_says_which_levels_a_pattern_selected(nes_fit):
    fig = nes_fit.plot_intervals("1|state?1*")
    ax, labels, _, _ = interval_parts(fig)
    levels = nes_fit.levels["1|state"]
    chosen = [level for level in levels if level.startswith("1")]
    assert ax.get_title() == f"1|state: {len(chosen)} of {len(levels)} levels"
    assert sorted(labels) == sorted(chosen) and ax.get_ylabel() == "state"


def test_interval_title_of_several_parameters_names_them(nes_fit):
    assert nes_fit.plot_intervals(["partyid7", "sigma"]).axes[0].get_title() == "partyid7, sigma"
    fig = nes_fit.plot_intervals(["Intercept", "partyid7", "sigma", "1|state_sigma", "1|state[1]"])
    assert fig.axes[0].get_title() == "5 parameters"


# link scale ---------------------------------------------------------------------------------

@pytest.mark.parametrize("family, link", [("gaussian", "identity"), ("bernoulli", "logit"),
                                          ("binomial", "logit"), ("poisson", "log"),
                                          ("negativebinomial", "log"), ("weibull", "link")])
def test_link_name_of_each_family(family, link):
    assert fg.plots.link_name(family) == link


def test_logistic_plots_say_the_values_are_on_the_logit_scale(logit_fit):
    names = ["Intercept", "age", "urban[Y]", "1|district_sigma"]
    assert logit_fit.plot_intervals("1|district").axes[0].get_xlabel().endswith(", logit scale")
    assert [ax.get_xlabel() for ax in logit_fit.plot_density(names).axes] == ["logit scale"] * 4
    assert [ax.get_ylabel() for ax in logit_fit.plot_trace(names).axes] == ["logit scale"] * 4
    assert "on the logit scale" in logit_fit.plot_pairs(names)._suptitle.get_text()


def test_gaussian_plots_carry_no_scale_label(nes_fit):
    assert not any(ax.get_xlabel() for ax in nes_fit.plot_density().axes)
    assert not any(ax.get_ylabel() for ax in nes_fit.plot_trace().axes)
    assert "scale" not in nes_fit.plot_intervals("1|state").axes[0].get_xlabel()
