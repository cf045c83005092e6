"""Plots: each renders to PNG under Agg and has the panels, labels and artists it promises."""
import fnmatch
import io
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
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


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def chain_lines(ax):
    """Lines drawn per chain (reference lines carry a gid)."""
    return [line for line in ax.get_lines() if line.get_gid() is None]


def png_bytes(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


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


def test_intervals_unsorted_list_levels_from_the_top(nes_fit):
    fig = nes_fit.plot_intervals("1|state", sort=False)
    _, labels, _, _ = interval_parts(fig)
    assert labels[::-1] == list(nes_fit.levels["1|state"])


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
