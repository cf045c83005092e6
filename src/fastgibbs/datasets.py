"""Small real datasets bundled with fastgibbs, as pandas DataFrames.

| name | rows | what |
|---|---|---|
| nes2000 | 476 | NES 2000: partyid7, real_ideo, state (complete cases) |
| hsb82 | 7,185 | High School and Beyond 1982: mAch, ses, meanses, sector, school |
| sleepstudy | 180 | lme4: Reaction, Days, Subject |
| cbpp | 56 | lme4: incidence, size, period, herd |
| contraception | 1,934 | mlmRev: use, age, urban, livch, district |
| exam | 4,059 | mlmRev: normexam, standLRT, schavg, school, ... |
| scotssec | 3,435 | mlmRev: attain, verbal, sex, primary, second (crossed) |
| nes_vote | 13,757 | NES 1952-2000: rep_presvote (1 Republican), income (1-5), state, year (crossed) |
| grouseticks | 403 | lme4: TICKS (counts) on red grouse chicks, YEAR, HEIGHT, cHEIGHT, BROOD, LOCATION, INDEX |
| epil | 236 | MASS: seizure counts y of 59 epileptics (subject) in 4 periods, trt, lbase, lage, V4 |
| wine | 72 | ordinal: rating (ordered 1-5) of wine bitterness by 9 judges, temp, contact, bottle |
"""
from importlib import resources

import pandas as pd

__all__ = ["load", "names"]

# Columns that identify groups or categories: read as strings so that codes such as
# state numbers are never mistaken for numeric predictors; R factors used as predictors
# are Categoricals with R's levels.
_CATEGORICAL = {
    "nes2000": {"state": str},
    "hsb82": {"school": str},
    "sleepstudy": {"Subject": str},
    "cbpp": {"herd": str, "period": pd.CategoricalDtype(["1", "2", "3", "4"])},
    "contraception": {"woman": str, "district": str, "livch": str},
    "exam": {"school": str, "student": str},
    "scotssec": {"primary": str, "second": str},
    "nes_vote": {"state": str, "year": str},
    "grouseticks": {"INDEX": str, "BROOD": str, "LOCATION": str,
                    "YEAR": pd.CategoricalDtype(["95", "96", "97"])},
    "epil": {"subject": str, "trt": pd.CategoricalDtype(["placebo", "progabide"]),
             "period": str},
    "wine": {"rating": pd.CategoricalDtype(["1", "2", "3", "4", "5"], ordered=True),
             "temp": pd.CategoricalDtype(["cold", "warm"]),
             "contact": pd.CategoricalDtype(["no", "yes"]), "bottle": str, "judge": str},
}


def names():
    """Names accepted by :func:`load`."""
    return sorted(_CATEGORICAL)


def load(name):
    """Load a bundled dataset by name (see :func:`names`) as a new DataFrame."""
    if name not in _CATEGORICAL:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(names())}")
    path = resources.files("fastgibbs") / "data" / f"{name}.csv"
    with resources.as_file(path) as p:
        return pd.read_csv(p, dtype=_CATEGORICAL[name])
