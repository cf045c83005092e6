"""Draw the README pictures of the NES 2000 example into docs/figures/.

    PYTHONPATH=src python scripts/make_figures.py

The fit is the README's example (same formula, priors, chains and seed), so the
pictures show what a reader who runs it gets. PNGs at 80 dpi keep the repository small.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import fastgibbs as fg  # noqa: E402  (after choosing the backend)

OUT = Path(__file__).resolve().parent.parent / "docs" / "figures"
DPI = 80


def nes_fit():
    nes = fg.datasets.load("nes2000")
    return fg.fit("real_ideo ~ 1 + partyid7 + (1 | state)", data=nes,
                  priors={"partyid7": fg.Normal(0, 1), "Intercept": fg.Normal(0, 10),
                          "sigma": fg.InvGamma(0.001, 0.001),
                          "1|state": fg.InvGamma(0.001, 0.001)},
                  chains=4, warmup=1000, draws=4000, seed=1)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    fit = nes_fit()
    figures = {
        "nes_trace.png": fit.plot_trace(["partyid7", "sigma", "1|state_sigma"]),
        "nes_rank.png": fit.plot_trace(["partyid7", "sigma", "1|state_sigma"], kind="rank"),
        "nes_state_intervals.png": fit.plot_intervals("1|state"),
        "nes_ppc_density.png": fit.plot_ppc(seed=1),
        "nes_ppc_sd_state.png": fit.plot_ppc(kind="stat", stat="sd", group="state", seed=1),
    }
    for name, fig in figures.items():
        fig.savefig(OUT / name, dpi=DPI)
        print(OUT / name)


if __name__ == "__main__":
    main()
