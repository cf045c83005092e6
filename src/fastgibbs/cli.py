"""Command line: ``fastgibbs example | fit | summary | plot`` (also ``python -m fastgibbs``).

Errors in the input print one line on stderr and exit with status 2; an unexpected
error prints one line and exits with 1 (a traceback only with ``--debug``); Ctrl-C
prints one line and exits with 130, the shell's code for SIGINT.
"""
import argparse
import gc
import importlib
from pathlib import Path
import re
import sys

__all__ = ["main", "parse_prior", "run"]

NES_FORMULA = "real_ideo ~ 1 + partyid7 + (1 | state)"
PLOT_KINDS = ("trace", "rank", "pairs", "density", "intervals", "autocorr")


class CLIError(Exception):
    """A user error reported in one line."""


def _nes_priors(fg):
    return {"partyid7": fg.Normal(0, 1), "Intercept": fg.Normal(0, 10),
            "sigma": fg.InvGamma(0.001, 0.001), "1|state": fg.InvGamma(0.001, 0.001)}


# the key is everything before the last "=" that starts DIST(...): fixed-effect names
# may hold "=" themselves, as I(a == 1) does
_PRIOR = re.compile(r"^\s*(?P<key>.+?)\s*=\s*(?P<kind>\w+)\((?P<args>[^)]*)\)\s*$")


# distribution -> (class name in fastgibbs, its arguments as written on the command line)
PRIOR_KINDS = {"normal": ("Normal", ("mu", "sd")), "invgamma": ("InvGamma", ("shape", "scale")),
               "halfcauchy": ("HalfCauchy", ("scale",))}


def parse_prior(text, fg):
    """``"partyid7=normal(0,1)"`` -> ("partyid7", Normal(0, 1)); also
    ``invgamma(shape,scale)`` and ``halfcauchy(scale)``. Every argument is required."""
    match = _PRIOR.match(text)
    if not match:
        raise CLIError(f"bad prior {text!r}: write NAME=normal(mu,sd), NAME=invgamma(a,b) "
                       "or NAME=halfcauchy(scale)")
    kind = match["kind"].lower()
    if kind not in PRIOR_KINDS:
        raise CLIError(f"bad prior {text!r}: unknown distribution {kind!r} "
                       f"(use {', '.join(PRIOR_KINDS)})")
    cls, names = PRIOR_KINDS[kind]
    parts = [a.strip() for a in match["args"].split(",")]
    if len(parts) != len(names) or not all(parts):
        raise CLIError(f"bad prior {text!r}: {kind} takes {len(names)} argument(s), "
                       f"{kind}({', '.join(names)})")
    try:
        args = [float(a) for a in parts]
        return match["key"], getattr(fg, cls)(*args)
    except (TypeError, ValueError) as err:
        raise CLIError(f"bad prior {text!r}: {err}") from None


def _factor_only_columns(formula):
    """Columns ``formula`` uses only as grouping factors (not in the response, the fixed
    part or a slope); none when it does not parse (fg.fit then says why)."""
    from .formula import parse_formula, tokenize
    try:
        parsed = parse_formula(formula)
    except Exception:
        return set()
    factors = {v for group in parsed.groups for v in group.variables}
    texts = [parsed.fixed] + [group.lhs for group in parsed.groups]
    used = {t.name for text in texts for t in tokenize(text) if t.kind == "name"}
    return factors - used


def _read_data(path, formula=None):
    """A CSV file as a DataFrame; Parquet data (a .parquet file, a directory of them or
    a glob such as "data/*.parquet") as the path itself, which fastgibbs streams chunk
    by chunk (fastgibbs.streaming) instead of loading the rows into memory. A CSV
    column that ``formula`` uses only as a grouping factor is read as text: labels
    such as "01" keep their form (as group names), and "01" and "1" stay two groups."""
    import glob
    import pandas as pd
    file = Path(path)
    if glob.has_magic(path) or file.is_dir():
        return path                     # fastgibbs names a missing or bad file itself
    if not file.is_file():
        raise CLIError(f"data file {path!r} not found")
    if file.suffix.lower() == ".parquet":
        return path
    text = _factor_only_columns(formula) if formula else set()
    try:
        return pd.read_csv(file, dtype={name: str for name in text} or None)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise CLIError(f"cannot read {path!r} as CSV: {err}") from None


def _example(args, fg):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fit = fg.fit(NES_FORMULA, fg.datasets.load("nes2000"), priors=_nes_priors(fg),
                 chains=args.chains, warmup=1000, draws=args.draws, seed=args.seed,
                 progress=True)
    print(fit)
    _save_plot(fit.plot_trace(["Intercept", "partyid7", "sigma", "1|state_sigma"]),
               out / "trace.png")
    _save_plot(fit.plot_intervals("1|state"), out / "state_intervals.png")
    fit.save(out / "nes2000_fit.npz")
    print(f"\nwrote {out / 'trace.png'}, {out / 'state_intervals.png'} and "
          f"{out / 'nes2000_fit.npz'} (fastgibbs summary {out / 'nes2000_fit.npz'})")
    return 0


def _check_out(path, what):
    """Refuse an output path whose folder does not exist, before any work."""
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise CLIError(f"--out {path!r}: folder {str(folder)!r} does not exist; create it "
                       f"first ({what} is written there)")
    if Path(path).is_dir():
        raise CLIError(f"--out {path!r} is a folder; give a file name")


def _fit(args, fg):
    if args.out:
        _check_out(args.out, "the fit")
    data = _read_data(args.data, args.formula)
    priors = dict(parse_prior(p, fg) for p in args.prior)
    fit = fg.fit(args.formula, data, family=args.family, link=args.link, priors=priors,
                 weights=args.weights, offset=args.offset, chains=args.chains,
                 warmup=args.warmup, draws=args.draws, thin=args.thin, seed=args.seed,
                 na_action=args.na_action, progress=True)
    print(fit)
    if args.out:
        fit.save(args.out)
        print(f"\nsaved the fit to {args.out}")
    return 0


def _load(path, fg):
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"fit file {path!r} not found")
    with open(file, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":       # every saved fit is a zip (.npz) archive
            raise CLIError(f"{path!r} is not a saved fit (those are written by `fastgibbs "
                           f"fit DATA FORMULA --out FILE`); to fit a data file, run "
                           f"`fastgibbs fit {path} FORMULA`")
    return fg.load(path)


def _summary(args, fg):
    print(_load(args.fit, fg))
    return 0


def _plot(args, fg):
    _check_out(args.out, "the image")
    fit = _load(args.fit, fg)
    pars = args.pars if args.pars else None
    if args.kind == "intervals":
        if not pars or len(pars) != 1:
            raise CLIError("--kind intervals needs one group term in --pars, e.g. --pars '1|state'")
        figure = fit.plot_intervals(pars[0])
    elif args.kind in ("trace", "rank"):
        figure = fit.plot_trace(pars, kind=args.kind)
    else:
        figure = getattr(fit, f"plot_{args.kind}")(pars)
    _save_plot(figure, args.out)
    print(f"wrote {args.out}")
    return 0


# zlib level of the PNG files: 3 encodes a trace plot in 60% of the time of the default
# 6 (28 vs 47 ms), for a file 10% larger (297 KB)
PNG_LEVEL = 3


def _save_plot(figure, path):
    # laid out already: no bbox_inches="tight" redraw
    options = {"pil_kwargs": {"compress_level": PNG_LEVEL}} \
        if Path(path).suffix.lower() == ".png" else {}
    figure.savefig(path, dpi=100, **options)


def build_parser():
    parser = argparse.ArgumentParser(prog="fastgibbs",
                                     description="Gibbs samplers for multilevel regression")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action=_Version, nargs=0, default=argparse.SUPPRESS,
                        help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("example", help="fit the NES 2000 model on bundled data, print it, "
                                        "write plots and the saved fit")
    ex.add_argument("--out", default="fastgibbs_example", help="folder for the outputs")
    ex.add_argument("--chains", type=int, default=4)
    ex.add_argument("--draws", type=int, default=4000)
    ex.add_argument("--seed", type=int, default=1)
    ex.set_defaults(run=_example, modules=(_FIGURES,))

    fi = sub.add_parser("fit", help="fit a model to a CSV file or Parquet files")
    fi.add_argument("data", help="a CSV file (read into memory), or Parquet data, streamed "
                                 "in chunks: a .parquet file, a directory of them or a "
                                 "quoted glob such as 'data/*.parquet'")
    fi.add_argument("formula", help='lme4-style formula, e.g. "y ~ x + (1 | g)"')
    fi.add_argument("--family", default="gaussian",
                    help="gaussian (default), bernoulli, binomial, poisson, "
                         "negativebinomial, t or cumulative (ordinal); t and cumulative "
                         "only from a CSV file")
    fi.add_argument("--link", default=None,
                    help="the family's link when it has a choice: bernoulli takes logit "
                         "(default) or probit")
    fi.add_argument("--weights", metavar="COLUMN", default=None,
                    help="a numeric column of frequency weights (>= 0)")
    fi.add_argument("--offset", metavar="COLUMN", default=None,
                    help="a numeric column added to the linear predictor with coefficient "
                         "1 (e.g. the log exposure of counts)")
    fi.add_argument("--chains", type=int, default=4)
    fi.add_argument("--warmup", type=int, default=1000)
    fi.add_argument("--draws", type=int, default=1000)
    fi.add_argument("--thin", type=int, default=1, help="keep every thin-th sweep")
    fi.add_argument("--seed", type=int, default=None)
    fi.add_argument("--prior", action="append", default=[],
                    help='e.g. "partyid7=normal(0,1)" or "1|state=invgamma(1,1)" (repeatable)')
    fi.add_argument("--na-action", choices=("raise", "drop"), default="raise",
                    help="rows with missing values in used columns: raise (default) or "
                         "drop them (the fit records how many)")
    fi.add_argument("--out", help="save the fit to this file (.npz)")
    fi.set_defaults(run=_fit, modules=())

    su = sub.add_parser("summary", help="print a saved fit")
    su.add_argument("fit")
    su.set_defaults(run=_summary, modules=())

    pl = sub.add_parser("plot", help="plot a saved fit to an image file")
    pl.add_argument("fit")
    pl.add_argument("--kind", choices=PLOT_KINDS, default="trace")
    pl.add_argument("--pars", nargs="+", help="parameter names, group terms or patterns")
    pl.add_argument("--out", required=True, help="image file, e.g. trace.png")
    pl.set_defaults(run=_plot, modules=(_FIGURES,))
    return parser


class _Version(argparse.Action):
    """``--version``: looked up when asked for (reading the installed metadata is not free)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version():
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("fastgibbs")
    except PackageNotFoundError:     # run from a source tree (PYTHONPATH=src)
        from . import __version__
        return __version__


USER_ERRORS = (CLIError, ValueError, TypeError, KeyError, NotImplementedError, OSError)


class _InterruptWatch:
    """SIGINT handler for the command line: notes that Ctrl-C was pressed, then raises
    KeyboardInterrupt as Python's own handler does.

    Two ways an interrupt could get lost on its way to `main`:
    - inside an import of a compiled module it can come out as another exception
      (pybind11 turns it into an ImportError, and a second import then fails with
      "type ... is already registered"); with the note, `main` still reports it as an
      interrupt;
    - raised while a finalizer or weakref callback runs (importlib's module-lock
      callback, say), it is one that Python ignores: it printed "Exception ignored in
      ..." and the command ran on to exit 0. While the watch is on,
      ``sys.unraisablehook`` has SIGINT sent to the main thread again a moment later,
      where it stops the command; and a command that returns after Ctrl-C exits 130.

    Once `main` has stopped the command (``stopped``), SIGINT is only noted: an
    interrupt handed back a moment too late (or a second Ctrl-C) must not escape while
    the interrupt is being reported."""

    def __init__(self):
        self.seen = False
        self.stopped = False
        self.previous = None
        self.previous_hook = None
        self.again = []
        self.in_hook = False
        self.deferred = False

    def __call__(self, signum, frame):
        self.seen = True
        if self.stopped:
            return
        if self.in_hook:                # raised in the hook it would be lost as well:
            self.deferred = True        # the hook hands it back once more
            return
        raise KeyboardInterrupt

    def _unraisable(self, unraisable):
        if self.seen and issubclass(unraisable.exc_type, KeyboardInterrupt):
            # raised again from here, it would still be inside the callback: a moment
            # later, another thread sends SIGINT to the main thread again (a signal, not
            # _thread.interrupt_main's flag, so that a blocking wait ends too). A
            # hand-back that lands while this hook still runs (under load, Timer.start
            # can take longer than the delay) is deferred by the handler and sent again,
            # each time four times as late. No handler runs between the loop's last test
            # and in_hook = False (the interpreter runs them at calls and backward jumps).
            self.in_hook = True
            try:
                delay = 0.001
                self._hand_back_after(delay)
                while self.deferred:
                    self.deferred = False
                    delay *= 4
                    self._hand_back_after(delay)
            finally:
                self.in_hook = False
            return
        self.previous_hook(unraisable)

    def _hand_back_after(self, delay):
        import signal
        import threading
        again = threading.Timer(delay, signal.pthread_kill,
                                (threading.main_thread().ident, signal.SIGINT))
        self.again.append(again)
        again.start()

    def __enter__(self):
        import signal
        import threading
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self)
            self.previous_hook = sys.unraisablehook
            sys.unraisablehook = self._unraisable
        return self

    def __exit__(self, *exc):
        if self.previous is None:
            return
        import signal
        try:
            if self.again:                  # an interrupt handed back late: take it here
                for again in self.again:
                    again.cancel()
                    again.join()
                _run_pending_handlers()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, self.previous)
            if sys.unraisablehook == self._unraisable:
                sys.unraisablehook = self.previous_hook


def _run_pending_handlers():
    """A Python call: the interpreter runs the signal handlers that are due first."""


# modules a command is sure to use, loaded up front by `run`: matplotlib. formulae is
# not: a formula whose terms are numeric columns alone needs none (plain_design), and
# `fastgibbs fit` of one took 0.99 s with formulae loaded up front, 0.63 s without (one
# that needs it: 0.96 against 0.99 s)
_FIGURES = "fastgibbs._figure"


def main(argv=None):
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    return _main(argv)


def run():
    """The ``fastgibbs`` command (and ``python -m fastgibbs``): `main` as a whole process.

    Python's cyclic garbage collector rescans the long-lived objects of the modules a
    command loads (about 10^5, from numpy, pandas, formulae and matplotlib) at many of
    its passes, and at exit it tears them all down: about 0.4 s of CPU of the 1.8 s
    that ``fastgibbs example`` took. Here the modules every command uses (not formulae,
    which loads only when a formula needs it) load with the collector paused and
    are then moved out of its sight (``gc.freeze``), which leaves it the command's own
    objects; at exit, what is still alive is left to the operating system (the
    command's files are closed by then)."""
    status = _main(None, preload=True)
    gc.freeze()
    return status


def _preload(modules):
    """Import ``modules`` with the garbage collector paused, then freeze what they made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _main(argv, preload=False):
    with _InterruptWatch() as watch:
        debug = "--debug" in (sys.argv[1:] if argv is None else argv)
        try:
            args = build_parser().parse_args(argv)
            debug = args.debug
            if preload:
                _preload(("fastgibbs", *args.modules))
            import fastgibbs as fg    # plots draw on their own Agg canvas: no backend to choose
            status = args.run(args, fg)
            if watch.seen:            # an interrupt that no exception carried this far
                raise KeyboardInterrupt
            return status
        except KeyboardInterrupt:
            watch.stopped = True
            if debug:
                raise
            print("fastgibbs: interrupted", file=sys.stderr)
            return 130
        except Exception as err:
            if debug:
                raise
            if watch.seen:            # Ctrl-C, turned into another error on its way
                watch.stopped = True
                print("fastgibbs: interrupted", file=sys.stderr)
                return 130
            if isinstance(err, USER_ERRORS):
                message = err.args[0] if isinstance(err, KeyError) and err.args else err
                # the library speaks of its keyword argument; here it is an option
                message = str(message).replace("na_action='drop'", "--na-action drop")
                print(f"fastgibbs: error: {_one_line(message)}", file=sys.stderr)
                return 2
            print(f"fastgibbs: internal error: {type(err).__name__}: {_one_line(err)} (run "
                  "with --debug for a traceback, and please report it)", file=sys.stderr)
            return 1


def _one_line(message):
    return " ".join(str(message).split())
