"""Benchmark: the model-comparison table, crfkit's batched fits against a per-curve scipy loop.

Run from the repository root with the real data::

    CRFKIT_DATA=../shared/data python benchmarks/bench_table.py [--quick]

What is timed (after loading DoRF, invDoRF and the EMoR bases, and after one
warm-up call of each side so that imports and caches are in place):

* crfkit: ``crfkit.compare_models(cv_folds=0)``, i.e. every non-cross-validated
  cell of the DoRF + invDoRF table (402 curves x all default columns,
  including learning the PCA bases).
* baselines: the same fits done one curve at a time in a Python loop, from
  the same log-log start for Gamma/GGCM, PCA bases learned with scikit-learn
  as crfkit does.  By default three are timed and the ratio to each printed:
  ``curve-fit-all`` (``scipy.optimize.curve_fit`` for every model, the most
  literal "per-curve scipy.optimize loop"), ``curve-fit`` (``curve_fit`` for
  Gamma/GGCM, ``scipy.optimize.lsq_linear`` for the linear models) and
  ``lm-jac`` (``least_squares`` MINPACK LM with the analytic Jacobian and
  ``numpy.linalg.lstsq``: the fastest per-curve loop).

Both sides run with single-threaded BLAS (threadpoolctl), which is the faster
setting for these small problems on small machines; this makes the baseline
faster, not slower.

The script checks that crfkit's mean RMSE is never above a baseline's in any
cell (relative tolerance 1e-4) and exits with status 1 if it is; a baseline
that stops above the least-squares optimum is reported as a note.  With
``--quick`` it runs a 20-curve subset with fewer repeats (for tests); the
targets (< 0.5 s, >= 30x) are judged only on the full table.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

TARGET_SECONDS = 0.5
TARGET_RATIO = 30.0
RTOL = 1e-4


# --------------------------------------------------------------------------------------
# The baseline: a per-curve loop, written from the model definitions (REFERENCE.md s.3).
# --------------------------------------------------------------------------------------
def _safe_log(x):
    zero = x <= 0
    return np.log(np.where(zero, 1.0, x)), zero


def _loglog_start(x, y, k):
    """Start for f = x^P(x): least squares of log y = P(x) log x (one curve)."""
    ok = (x > 1e-3) & (x < 1 - 1e-3) & (y > 1e-6)
    lx = np.log(x[ok])
    ly = np.log(np.clip(y[ok], 1e-6, 1.0))
    V = lx[:, None] * x[ok, None] ** np.arange(k)[None, :]
    theta, *_ = np.linalg.lstsq(V, ly, rcond=None)
    if not np.all(np.isfinite(theta)):
        theta = np.zeros(k)
        theta[0] = 1.0
    return theta


#: Baseline variants for the nonlinear fits: keyword arguments of least_squares.
BASELINES = {
    # The most literal reading of "a per-curve scipy.optimize loop doing the same
    # fits": scipy.optimize.curve_fit for every model, linear ones included
    # (zero start for the linear coefficients, finite differences).
    "curve-fit-all": {"curve_fit": True, "linear_curve_fit": True},
    # The straightforward loop: scipy.optimize.curve_fit (MINPACK LM, finite
    # differences, same start) for Gamma/GGCM and scipy.optimize.lsq_linear for
    # the linear models.
    "curve-fit": {"curve_fit": True},
    # MINPACK Levenberg-Marquardt with the analytic Jacobian: the fastest per-curve
    # scipy fit (the default, so the ratio is a conservative one).
    "lm-jac": {"method": "lm", "jac": "analytic"},
    # MINPACK LM with finite differences: what scipy.optimize.curve_fit does.
    "lm": {"method": "lm"},
    # least_squares with all defaults (trust-region reflective, finite differences).
    "trf": {},
}


def baseline_fit_ggcm(x, Y, k, variant="lm-jac"):
    """Per-curve scipy.optimize.least_squares fit of f(x) = x ** P(x), deg P = k - 1.

    k = 1 is the gamma curve.  Starts from the log-log least-squares fit (as
    crfkit does), scipy's default tolerances.  Returns the fitted curves (N, m).
    """
    from scipy.optimize import least_squares

    logx, zero = _safe_log(x)
    powers = x[:, None] ** np.arange(k)[None, :]  # (m, k)

    def model(theta):
        P = powers @ theta
        e = np.minimum(P * logx, 50.0)
        f = np.exp(e)
        f[zero] = np.where(P[zero] > 0, 0.0, 1.0)
        return f

    out = np.empty_like(Y)
    for i, y in enumerate(Y):
        def resid(theta, y=y):
            return model(theta) - y

        def jac(theta):
            return (model(theta) * logx)[:, None] * powers

        theta0 = _loglog_start(x, y, k)
        if k == 1:
            theta0 = np.clip(theta0, 1e-2, 1e2)
        if BASELINES[variant].get("curve_fit"):
            from scipy.optimize import curve_fit

            popt, _ = curve_fit(lambda xx, *th: model(np.array(th)), x, y, p0=theta0)
            out[i] = model(popt)
            continue
        kwargs = dict(BASELINES[variant])
        if kwargs.get("jac") == "analytic":
            kwargs["jac"] = jac
        sol = least_squares(resid, theta0, **kwargs)
        out[i] = model(sol.x)
    return out


def _poly_design(x, k, pin_zero):
    """Mitsunaga-Nayar polynomial with k free coefficients and f(1) = 1 (see crfkit docs)."""
    degree = k + 1 if pin_zero else k
    powers = np.arange(1, k + 1) if pin_zero else np.arange(k)
    top = x**degree
    return top, x[:, None] ** powers[None, :] - top[:, None]


def baseline_fit_linear(offset, B, Y, variant="lm-jac"):
    """Per-curve least squares of ``Y[i] - offset`` on the columns of ``B``.

    ``scipy.optimize.lsq_linear`` for the straightforward baseline, else
    ``numpy.linalg.lstsq`` (faster).
    """
    out = np.empty_like(Y)
    use_scipy = BASELINES[variant].get("curve_fit", False)
    generic = BASELINES[variant].get("linear_curve_fit", False)
    if use_scipy:
        from scipy.optimize import curve_fit, lsq_linear
    for i, y in enumerate(Y):
        if generic:
            c, _ = curve_fit(lambda xx, *cc: offset + B @ np.array(cc), None, y, p0=np.zeros(B.shape[1]))
        elif use_scipy:
            c = lsq_linear(B, y - offset).x
        else:
            c, *_ = np.linalg.lstsq(B, y - offset, rcond=None)
        out[i] = offset + B @ c
    return out


def baseline_table(rows, columns, emor, pca_sources, pca_k, variant="lm-jac"):
    """Mean RMSE per (row, column) computed curve by curve.

    rows : list of CurveSet (forward and inverse)
    emor : dict kind -> (mean, components)
    pca_sources : list of (name, {kind: CurveSet})
    """
    from sklearn.decomposition import PCA

    x = np.linspace(0.0, 1.0, 1024)
    cells = {}
    max_k = max(pca_k) if pca_k else 0
    pca_bases = {}
    for cs in rows:
        Y = np.asarray(cs.values)
        for col in columns:
            fam, _, k = col.partition("-")
            if fam == "Gamma":
                fitted = baseline_fit_ggcm(x, Y, 1, variant)
            elif fam == "GGCM":
                fitted = baseline_fit_ggcm(x, Y, int(k), variant)
            elif fam in ("Poly", "Poly0"):
                fitted = baseline_fit_linear(*_poly_design(x, int(k), fam == "Poly0"), Y, variant)
            elif fam == "EMoR":
                mean, comps = emor[cs.kind]
                fitted = baseline_fit_linear(mean, comps[: int(k)].T, Y, variant)
            else:
                raise ValueError(f"baseline has no model for column {col!r}")
            cells[(cs.name, col)] = float(np.mean(np.sqrt(np.mean((fitted - Y) ** 2, axis=1))))
        for src_name, by_kind in pca_sources:
            key = (src_name, cs.kind)
            if key not in pca_bases:
                src = by_kind[cs.kind]
                pca = PCA(n_components=min(len(src) - 1, max_k), svd_solver="full").fit(src.values)
                pca_bases[key] = (pca.mean_, pca.components_)
            mean, comps = pca_bases[key]
            for k in pca_k:
                if k > comps.shape[0]:
                    continue
                fitted = baseline_fit_linear(mean, comps[:k].T, Y, variant)
                rmse = np.sqrt(np.mean((fitted - Y) ** 2, axis=1))
                cells[(cs.name, f"PCA({src_name})-{k}")] = float(np.mean(rmse))
    return cells


# --------------------------------------------------------------------------------------
def best_time(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def machine_summary():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import scipy

    return (
        f"{os.cpu_count()} CPU(s), {cpu}; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20-curve subset and fewer repeats (for tests)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats of the crfkit table (best is kept)")
    parser.add_argument("--baseline-repeats", type=int, default=None,
                        help="repeats of the baseline (best is kept)")
    parser.add_argument("--baseline", choices=sorted(BASELINES), nargs="+", default=["curve-fit-all", "curve-fit", "lm-jac"],
                        help="baselines to time (the ratio against each is reported). "
                             "'curve-fit-all': scipy.optimize.curve_fit per curve for every model; "
                             "'curve-fit': curve_fit for Gamma/GGCM + lsq_linear for the linear models; "
                             "'lm-jac': least_squares method='lm' with the analytic Jacobian + numpy lstsq "
                             "(the fastest per-curve loop); 'lm': finite differences; 'trf': least_squares defaults")
    args = parser.parse_args(argv)

    import crfkit
    from crfkit._threads import single_threaded_blas
    from crfkit.evaluation.table import DEFAULT_COLUMNS, DEFAULT_PCA_K

    repeats = args.repeats or (3 if args.quick else 7)
    base_repeats = args.baseline_repeats or (1 if args.quick else 3)

    try:
        load_before = os.getloadavg()[0]
    except (AttributeError, OSError):
        load_before = None

    # -- loading (not timed) ---------------------------------------------------------
    t0 = time.perf_counter()
    dorf = crfkit.load_curves("dorf")
    if args.quick:
        dorf = dorf[:: max(1, len(dorf) // 20)][:20]
        dorf.name = "DoRF-subset"
    inv = dorf.inverse()  # cached on the set: compare_models reuses it
    emor = {
        "forward": (crfkit.load_emor().mean, crfkit.load_emor().components),
        "inverse": (crfkit.load_emor(inverse=True).mean, crfkit.load_emor(inverse=True).components),
    }
    t_load = time.perf_counter() - t0
    columns = list(DEFAULT_COLUMNS)
    pca_k = tuple(DEFAULT_PCA_K)
    full_dorf = crfkit.load_curves("dorf")
    pca_sources = [("dorf", {"forward": full_dorf, "inverse": full_dorf.inverse()})]

    def run_crfkit():
        if args.quick:
            return crfkit.compare_models(curves=[dorf], cv_folds=0)
        return crfkit.compare_models(cv_folds=0)

    def run_baseline(variant):
        with single_threaded_blas():
            return baseline_table([dorf, inv], columns, emor, pca_sources, pca_k, variant)

    # -- warm-up (imports, EMoR caches, scipy/sklearn imports) -------------------------
    run_crfkit()
    import scipy.optimize  # noqa: F401
    import sklearn.decomposition  # noqa: F401

    with single_threaded_blas():
        for variant in args.baseline:
            baseline_table([dorf[:2], inv[:2]], columns, emor, pca_sources, pca_k, variant)

    # -- timing --------------------------------------------------------------------------
    t_crf, crf_times, table = best_time(run_crfkit, repeats)
    baselines = {}
    for variant in args.baseline:
        baselines[variant] = best_time(lambda v=variant: run_baseline(v), base_repeats)

    # -- agreement -----------------------------------------------------------------------
    crf_cols = [c for c in table.columns if not c.endswith("(cv)")]
    missing = sorted({c for v in baselines.values() for _, c in v[2]} ^ set(crf_cols))
    # crfkit must reach the least-squares optimum: never worse than a baseline in any
    # cell.  A baseline that stops above the optimum (curve_fit with finite
    # differences on the ill-conditioned polynomial bases) is reported, not failed.
    worst = (0.0, None)  # largest relative excess of crfkit over a baseline
    baseline_short = []  # (variant, row, col, relative excess of the baseline)
    for variant, (_, _, cells) in baselines.items():
        for (row, col), b in cells.items():
            if col not in crf_cols:
                continue
            c = table.cell(row, col)
            if not (np.isfinite(c) and np.isfinite(b)):
                worst = (np.inf, (variant, row, col, c, b))
                continue
            rel = (c - b) / max(abs(b), 1e-300)
            if rel > worst[0] or worst[1] is None:
                worst = (max(rel, 0.0), (variant, row, col, c, b))
            if -rel > RTOL:
                baseline_short.append((variant, row, col, -rel))
    agree = not missing and worst[0] <= RTOL

    n_curves = sum(table.n_curves.values())
    print(f"machine: {machine_summary()}")
    if load_before is not None:
        note = "" if load_before < 0.5 else "  (other work was running: timings are pessimistic)"
        print(f"1-min load average before the run: {load_before:.2f}{note}")
    print(f"data: {' + '.join(f'{r} ({table.n_curves[r]})' for r in table.rows)} = {n_curves} curves; "
          f"{len(crf_cols)} columns: {', '.join(crf_cols)}; loading took {t_load:.3f} s (not timed)")
    print(f"crfkit.compare_models(cv_folds=0): best {t_crf:.4f} s of {repeats} "
          f"(all: {', '.join(f'{t:.4f}' for t in crf_times)})")
    for variant, (tb, times, _) in baselines.items():
        print(f"baseline, per-curve scipy loop ({variant}): best {tb:.4f} s of {base_repeats} "
              f"(all: {', '.join(f'{t:.3f}' for t in times)}); ratio {tb / t_crf:.1f}x")
    for variant, (tb, _, _) in baselines.items():
        print(f"speed-up ratio against the {variant} baseline: {tb / t_crf:.1f}x")
    if missing:
        print(f"columns present on only one side: {missing}")
    if worst[1] is not None:
        variant, row, col, c, b = worst[1]
        print(f"largest excess of crfkit's mean RMSE over a baseline: {worst[0]:.2e} at ({row}, {col}) vs "
              f"{variant}: crfkit {c:.8f}, baseline {b:.8f} (tolerance {RTOL:g})")
    for variant, row, col, rel in baseline_short:
        print(f"note: the {variant} baseline stops {rel:.2%} above the optimum at ({row}, {col})")
    print(f"results agree: {'yes' if agree else 'NO'}")
    if args.quick:
        print("targets: not judged with --quick (subset of the table)")
    else:
        met_time = "met" if t_crf < TARGET_SECONDS else "NOT met"
        print(f"target time < {TARGET_SECONDS} s: {met_time} ({t_crf:.3f} s)")
        for variant, (tb, _, _) in baselines.items():
            r = tb / t_crf
            print(f"target ratio >= {TARGET_RATIO:g}x against {variant}: {'met' if r >= TARGET_RATIO else 'NOT met'} ({r:.1f}x)")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
