"""Command line: ``fastgibbs example`` and ``fastgibbs fit DATA.csv FORMULA``.

Errors in the input print one line on stderr and exit with status 2 (no traceback
unless ``--debug``).
"""
import argparse
import re
import sys

__all__ = ["main"]

NES_FORMULA = "real_ideo ~ 1 + partyid7 + (1 | state)"


def _nes_priors(fg):
    return {"partyid7": fg.Normal(0, 1), "Intercept": fg.Normal(0, 10),
            "sigma": fg.InvGamma(0.001, 0.001), "1|state": fg.InvGamma(0.001, 0.001)}


_PRIOR = re.compile(r"^\s*(?P<key>[^=]+?)\s*=\s*(?P<kind>\w+)\((?P<args>[^)]*)\)\s*$")


def parse_prior(text, fg):
    """``"partyid7=normal(0,1)"`` -> ("partyid7", Normal(0, 1)); also invgamma(a,b),
    halfcauchy(s)."""
    match = _PRIOR.match(text)
    if not match:
        raise ValueError(f"bad prior {text!r}: write NAME=normal(mu,sd), NAME=invgamma(a,b) "
                         "or NAME=halfcauchy(scale)")
    kinds = {"normal": fg.Normal, "invgamma": fg.InvGamma, "halfcauchy": fg.HalfCauchy}
    kind = match["kind"].lower()
    if kind not in kinds:
        raise ValueError(f"bad prior {text!r}: unknown distribution {kind!r}")
    try:
        args = [float(a) for a in match["args"].split(",") if a.strip()]
    except ValueError:
        raise ValueError(f"bad prior {text!r}: arguments must be numbers") from None
    return match["key"], kinds[kind](*args)


def _example(args, fg):
    fit = fg.fit(NES_FORMULA, fg.datasets.load("nes2000"), priors=_nes_priors(fg),
                 chains=args.chains, warmup=1000, draws=args.draws, seed=args.seed)
    print(fit)
    return 0


def _fit(args, fg):
    import pandas as pd
    try:
        data = pd.read_parquet(args.data) if args.data.endswith(".parquet") \
            else pd.read_csv(args.data)
    except FileNotFoundError:
        raise ValueError(f"data file {args.data!r} not found") from None
    priors = dict(parse_prior(p, fg) for p in args.prior)
    fit = fg.fit(args.formula, data, family=args.family, priors=priors, chains=args.chains,
                 warmup=args.warmup, draws=args.draws, seed=args.seed)
    print(fit)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="fastgibbs",
                                     description="Gibbs samplers for multilevel regression")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("example", help="fit the NES 2000 model on bundled data and print it")
    ex.add_argument("--chains", type=int, default=4)
    ex.add_argument("--draws", type=int, default=4000)
    ex.add_argument("--seed", type=int, default=1)
    ex.set_defaults(run=_example)
    fi = sub.add_parser("fit", help="fit a model to a CSV or Parquet file")
    fi.add_argument("data")
    fi.add_argument("formula")
    fi.add_argument("--family", default="gaussian")
    fi.add_argument("--chains", type=int, default=4)
    fi.add_argument("--warmup", type=int, default=1000)
    fi.add_argument("--draws", type=int, default=1000)
    fi.add_argument("--seed", type=int, default=None)
    fi.add_argument("--prior", action="append", default=[],
                    help='e.g. "partyid7=normal(0,1)" (repeatable)')
    fi.set_defaults(run=_fit)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    import fastgibbs as fg
    try:
        return args.run(args, fg)
    except (ValueError, TypeError, KeyError, NotImplementedError) as err:
        if args.debug:
            raise
        print(f"fastgibbs: error: {err}", file=sys.stderr)
        return 2
