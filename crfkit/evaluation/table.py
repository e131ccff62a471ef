"""The model-comparison table: average RMSE of each model on each curve set.

Rows are curve sets (DoRF, invDoRF, any saved set and its inverse); columns are
models named by their labels (``Gamma``, ``Poly-5``, ``GGCM-3``, ``EMoR-25``,
``PCA(dorf)-5``...).  A PCA column scored on the data its basis was learned
from is in-sample; for those cells a k-fold cross-validated score (basis
learned without the held-out curves) is added as ``<label> (cv)``.
"""

import json
import re
import time
from dataclasses import dataclass, field

import numpy as np

from ..curves import GRID, CurveSet
from ..errors import UnknownNameError, ValidationError
from ..models import get_model
from ..models.pca import PCABasis
from .._threads import single_threaded_blas
from .published import published_value

#: Columns of the default table (PCA columns are added per ``pca_from``).
DEFAULT_COLUMNS = ("Gamma", "Poly-5", "Poly-11", "Poly0-5", "Poly0-11", "GGCM-2", "GGCM-3", "EMoR-5", "EMoR-25")
DEFAULT_PCA_K = (3, 5, 25)

_COLUMN_RE = re.compile(r"^(?P<family>Gamma|Poly0|Poly|GGCM|EMoR|PCA\((?P<src>[^)]+)\))(?:-(?P<k>\d+))?$", re.I)


def parse_column(label):
    """Turn a column label into ``(model name, k, options)``.

    ``'Gamma'``, ``'Poly-5'`` (f(1)=1), ``'Poly0-5'`` (also f(0)=0),
    ``'GGCM-3'``, ``'EMoR-25'``, ``'PCA(dorf)-5'`` (basis learned from the
    named curve set or ``.crfs`` file).
    """
    m = _COLUMN_RE.match(label.strip())
    if not m:
        raise UnknownNameError(
            f"unknown table column {label!r}; use Gamma, Poly-K, Poly0-K, GGCM-K, EMoR-K or PCA(<curve set>)-K"
        )
    fam = m.group("family").lower()
    k = int(m.group("k")) if m.group("k") else None
    if fam == "gamma":
        return "gamma", 1, {}
    if k is None:
        raise ValidationError(f"column {label!r} needs a parameter count, e.g. {label}-5")
    if fam == "poly":
        return "polynomial", k, {}
    if fam == "poly0":
        return "polynomial", k, {"pin_zero": True}
    if fam == "ggcm":
        return "ggcm", k, {}
    if fam == "emor":
        return "emor", k, {}
    return "pca", k, {"basis": m.group("src")}


@dataclass
class ComparisonTable:
    """Mean RMSE per (curve set, model); NaN where a cell was not computed.

    Attributes
    ----------
    rows : list of str
        Curve-set names.
    columns : list of str
        Model labels; held-out scores end in ``' (cv)'``.
    values : ndarray (rows, columns)
    n_params : dict label -> parameter count
    n_curves : dict row -> number of curves
    per_curve : dict (row, column) -> ndarray of per-curve RMSE
    timings : dict
        Seconds spent: ``'fits'`` (all non-cv cells) and ``'cv'``.
    """

    rows: list
    columns: list
    values: np.ndarray
    n_params: dict
    n_curves: dict
    per_curve: dict = field(default_factory=dict, repr=False)
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def cell(self, row, column):
        return float(self.values[self.rows.index(row), self.columns.index(column)])

    # -- formats ---------------------------------------------------------------------
    def to_markdown(self, published=False, digits=6):
        """Markdown table; ``published=True`` adds the Li & Peers values below DoRF rows."""
        head = ["data"] + self.columns
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        fmt = f"{{:.{digits}f}}"
        for i, row in enumerate(self.rows):
            cells = [fmt.format(v) if np.isfinite(v) else "" for v in self.values[i]]
            lines.append(f"| {row} ({self.n_curves[row]}) | " + " | ".join(cells) + " |")
            if published:
                pubs = [published_value(row, c) for c in self.columns]
                if any(p is not None for p in pubs):
                    cells = [fmt.format(p) if p is not None else "" for p in pubs]
                    lines.append(f"| {row}, published | " + " | ".join(cells) + " |")
        lines.append("| # parameters | " + " | ".join(str(self.n_params[c]) for c in self.columns) + " |")
        return "\n".join(lines)

    def to_csv(self):
        """CSV: first column the curve set's name, then one column per model."""
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["data"] + self.columns)
        for i, row in enumerate(self.rows):
            w.writerow([row] + [repr(float(v)) if np.isfinite(v) else "" for v in self.values[i]])
        return buf.getvalue()

    def to_dict(self):
        return {
            "rows": self.rows,
            "columns": self.columns,
            "values": [[float(v) if np.isfinite(v) else None for v in r] for r in self.values],
            "n_params": self.n_params,
            "n_curves": self.n_curves,
            "published": {
                r: {c: published_value(r, c) for c in self.columns if published_value(r, c) is not None}
                for r in self.rows
            },
            "timings_s": self.timings,
            "notes": self.notes,
        }

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    def to_latex(self, digits=6):
        cols = "l" + "r" * len(self.columns)
        esc = lambda s: s.replace("_", r"\_").replace("%", r"\%")  # noqa: E731
        out = [r"\begin{tabular}{" + cols + "}", r"\hline", " & ".join(["data"] + [esc(c) for c in self.columns]) + r" \\", r"\hline"]
        for i, row in enumerate(self.rows):
            cells = [f"{v:.{digits}f}" if np.isfinite(v) else "--" for v in self.values[i]]
            out.append(" & ".join([esc(row)] + cells) + r" \\")
        out += [r"\hline", " & ".join(["\\# parameters"] + [str(self.n_params[c]) for c in self.columns]) + r" \\", r"\hline", r"\end{tabular}"]
        return "\n".join(out)

    def format(self, fmt="markdown", published=False):
        if fmt == "markdown":
            return self.to_markdown(published=published)
        if fmt == "csv":
            return self.to_csv()
        if fmt == "json":
            return self.to_json()
        if fmt == "latex":
            return self.to_latex()
        raise ValidationError(f"unknown table format {fmt!r}; use markdown, csv, json or latex")

    def plot(self, path=None, ax=None):
        """RMSE against number of parameters, one line per curve set (needs crfkit[plot])."""
        from ..plotting import plot_rmse_vs_params

        return plot_rmse_vs_params(self, path=path, ax=ax)


def _as_curve_set(spec):
    if isinstance(spec, CurveSet):
        return spec
    from ..data import load_curves

    cs = load_curves(spec)
    if not cs.name:
        cs.name = str(spec)
    return cs


def _source_label(spec):
    if isinstance(spec, CurveSet):
        return spec.name or "curves"
    from pathlib import Path

    p = Path(str(spec))
    return p.stem if p.suffix else str(spec)


def default_rows(curves=None, include_inverse=True):
    """DoRF and invDoRF, or the given sets (and their inverses)."""
    specs = ["dorf"] if curves is None else list(curves)
    if not specs:
        raise ValidationError("no curve sets given for the table rows")
    rows = []
    for spec in specs:
        cs = _as_curve_set(spec)
        rows.append(cs)
        if include_inverse:
            rows.append(cs.inverse())
    return rows


def cross_validated_pca(curves, k, folds=5, seed=0):
    """Held-out RMSE of PCA bases: k-fold over the curves of ``curves``.

    Each curve is fitted with a basis learned from the other folds only.

    Parameters
    ----------
    curves : CurveSet
    k : int or sequence of int
        Number(s) of components; one basis per fold serves every ``k``.

    Returns
    -------
    ndarray (N,) for an int ``k``, else dict k -> ndarray (N,) of per-curve RMSE.
    """
    ks = [k] if np.ndim(k) == 0 else list(k)
    values = curves.values
    n = values.shape[0]
    folds = min(folds, n)
    if folds < 2:
        raise ValidationError(f"cross-validation needs at least 2 folds and 2 curves, got {folds} fold(s) and {n} curve(s)")
    order = np.random.default_rng(seed).permutation(n)
    out = {kk: np.empty(n) for kk in ks}
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        basis = PCABasis.from_curves(values[train], n_components=min(max(ks), train.size - 1))
        coef = (values[test] - basis.mean) @ basis.components.T
        for kk in ks:
            kk_eff = min(kk, basis.n_components)
            fitted = basis.mean + coef[:, :kk_eff] @ basis.components[:kk_eff]
            out[kk][test] = np.sqrt(np.mean((fitted - values[test]) ** 2, axis=1))
    return out[ks[0]] if np.ndim(k) == 0 else out


def compare_models(curves=None, columns=DEFAULT_COLUMNS, pca_from=("dorf",), pca_k=DEFAULT_PCA_K, cv_folds=5,
                   include_inverse=True, seed=0):
    """Compute the model-comparison table.

    Parameters
    ----------
    curves : CurveSet, str, path, or a sequence of them, optional
        Curve sets for the rows (names such as ``'dorf'`` or ``.crfs`` paths);
        a single one (a string is one name, not a sequence of letters) makes
        one row.  Default: DoRF. Each set's inverse is added when
        ``include_inverse``.
    columns : str or sequence of str
        Model labels (see :func:`parse_column`); at least one.  A single
        string is one label.
    pca_from : CurveSet, str, path, a sequence of them, or None
        Curve sets to learn PCA bases from: adds ``PCA(<name>)-k`` columns for
        each ``k`` in ``pca_k``; rows of the inverse kind use the inverse set.
        None or an empty sequence: no such columns.
    pca_k : int or sequence of int
        Numbers of PCA components (each >= 1), one column per value and source.
    cv_folds : int
        Folds for the held-out PCA scores: 0 disables them, otherwise at least 2
        (as ``crfkit table --cv-folds``).
    include_inverse : bool
        Add the inverse of each curve set as a row.
    seed : int >= 0
        Seed of the cross-validation folds' random assignment.

    Returns
    -------
    ComparisonTable

    Raises
    ------
    ValidationError
        An argument of the wrong type or out of range (the message names it).
    UnknownNameError
        An unknown column label or curve-set name.
    """
    curves, columns, pca_from, pca_k, cv_folds, include_inverse, seed = _check_arguments(
        curves, columns, pca_from, pca_k, cv_folds, include_inverse, seed)
    with single_threaded_blas():
        return _compare_models(curves, columns, pca_from, pca_k, cv_folds, include_inverse, seed)


def _as_list(value):
    """A list of the items of ``value`` when it is a non-string iterable (not a CurveSet), else None."""
    if isinstance(value, (str, bytes, CurveSet, dict)) or not hasattr(value, "__iter__"):
        return None
    return list(value)


def _curve_specs(value, name):
    """``value`` as a list of curve-set specs (CurveSet, str or path); one spec alone is a list of one."""
    import os

    kinds = (CurveSet, str, os.PathLike)
    if isinstance(value, kinds):
        return [value]
    items = _as_list(value)
    if items is None:
        raise ValidationError(f"{name} must be a CurveSet, a curve-set name or path, or a list of them, got {value!r}")
    for i, spec in enumerate(items):
        if not isinstance(spec, kinds):
            raise ValidationError(f"{name}[{i}] must be a CurveSet, a curve-set name or a path, got {spec!r}")
    return items


def _check_arguments(curves, columns, pca_from, pca_k, cv_folds, include_inverse, seed):
    """Check :func:`compare_models`'s arguments before any work; returns them normalised."""
    import numbers

    from .._validation import check_bool, check_int

    if curves is not None:
        curves = _curve_specs(curves, "curves")
    labels = [columns] if isinstance(columns, str) else _as_list(columns)
    if labels is None:
        raise ValidationError(f"columns must be a column label (str) or a list of them, got {columns!r}")
    if not labels:
        raise ValidationError(f"columns must name at least one column, got {columns!r}")
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise ValidationError(f"columns[{i}] must be a column label (str) such as 'Gamma' or 'EMoR-5', got {label!r}")
    pca_from = [] if pca_from is None else _curve_specs(pca_from, "pca_from")
    if isinstance(pca_k, numbers.Integral) and not isinstance(pca_k, (bool, np.bool_)):
        ks = [check_int(pca_k, "pca_k", 1)]
    else:
        items = _as_list(pca_k)
        if items is None:
            raise ValidationError(f"pca_k must be an integer >= 1 or a list of them, got {pca_k!r}")
        if not items and pca_from:
            raise ValidationError("pca_k must hold at least one number of components when pca_from is given, got "
                                  f"{pca_k!r}")
        ks = [check_int(k, f"pca_k[{i}]", 1) for i, k in enumerate(items)]
    cv_folds = check_int(cv_folds, "cv_folds")
    if cv_folds < 0 or cv_folds == 1:
        raise ValidationError(f"cv_folds must be 0 (off) or at least 2, got {cv_folds}")
    include_inverse = check_bool(include_inverse, "include_inverse")
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    return curves, labels, pca_from, ks, cv_folds, include_inverse, seed


def _compare_models(curves, columns, pca_from, pca_k, cv_folds, include_inverse, seed):
    rows = default_rows(curves, include_inverse)
    pca_sources = [(_source_label(s), _as_curve_set(s)) for s in (pca_from or ())]
    labels = list(columns)
    specs = {c: parse_column(c) for c in labels}
    for name, _src in pca_sources:
        for k in pca_k:
            lab = f"PCA({name})-{k}"
            labels.append(lab)
            specs[lab] = ("pca", k, {"source": name})
    # Bases are learned once per (source, kind), with as many components as any column needs.
    max_pca_k = max([specs[lab][1] for lab in labels if specs[lab][0] == "pca"], default=1)
    bases = {}

    def basis_for(src_name, src, kind):
        key = (src_name, kind)
        if key not in bases:
            cs = src.as_kind(kind)
            bases[key] = (PCABasis.from_curves(cs, n_components=min(len(cs) - 1, max_pca_k), source=src_name), cs)
        return bases[key]

    src_by_name = dict(pca_sources)
    values = {}
    per_curve = {}
    n_params = {}
    cv_cells = {}
    cv_wanted = {}
    skipped = []
    t_fit = 0.0
    for cs in rows:
        for lab in labels:
            name, k, opts = specs[lab]
            t0 = time.perf_counter()
            if name == "pca":
                src_name = opts.get("source") or _source_label(opts["basis"])
                src = src_by_name.get(src_name)
                if src is None:
                    src = _as_curve_set(opts["basis"])
                    src_by_name[src_name] = src
                basis, src_same_kind = basis_for(src_name, src, cs.kind)
                if k > basis.n_components:
                    skipped.append(f"{lab} skipped for {cs.name}: {src_name} has only {basis.n_components + 1} curves")
                    continue
                model = get_model("pca", k=k, kind=cs.kind, basis=basis)
                in_sample = src_same_kind.values.shape == cs.values.shape and np.array_equal(src_same_kind.values, cs.values)
            else:
                model = get_model(name, k=k, kind=cs.kind, **opts)
                in_sample = False
            params = model.fit_samples(GRID, cs.values)
            rmse = cs.rmse(model.curves(params))
            t_fit += time.perf_counter() - t0
            values[(cs.name, lab)] = float(rmse.mean())
            per_curve[(cs.name, lab)] = rmse
            n_params[lab] = model.n_params
            if in_sample and cv_folds:
                cv_wanted.setdefault(cs.name, (cs, []))[1].append((lab, k))
                n_params[f"{lab} (cv)"] = model.n_params
    t0 = time.perf_counter()
    for row_name, (cs, wanted) in cv_wanted.items():
        scores = cross_validated_pca(cs, [k for _, k in wanted], folds=cv_folds, seed=seed)
        for lab, k in wanted:
            cv_cells[(row_name, f"{lab} (cv)")] = scores[k]
    t_cv = time.perf_counter() - t0
    # Put each cv column right after its in-sample column.
    ordered = []
    for lab in labels:
        if lab in n_params:
            ordered.append(lab)
        cv_lab = f"{lab} (cv)"
        if any(key[1] == cv_lab for key in cv_cells):
            ordered.append(cv_lab)
    row_names = [cs.name for cs in rows]
    table = np.full((len(row_names), len(ordered)), np.nan)
    for (r, c), v in values.items():
        table[row_names.index(r), ordered.index(c)] = v
    for (r, c), v in cv_cells.items():
        table[row_names.index(r), ordered.index(c)] = float(v.mean())
        per_curve[(r, c)] = v
    notes = skipped + [
        "Poly-K: degree-K polynomial, f(1)=1, f(0) free (Mitsunaga-Nayar); Poly0-K: degree K+1, f(0)=0 and f(1)=1; both K free parameters.",
        "GGCM-K: f(E) = E^P(E) with P of degree K-1 (K parameters), least squares in the linear domain.",
        "EMoR-K: official Grossberg-Nayar basis (emor.txt / invemor.txt) by least squares; in-sample on DoRF.",
        f"PCA(S)-K: scikit-learn PCA basis learned from curve set S; '(cv)' columns are {cv_folds}-fold held-out scores.",
    ]
    return ComparisonTable(
        row_names, ordered, table, n_params, {cs.name: len(cs) for cs in rows}, per_curve,
        {"fits_s": round(t_fit, 4), "cv_s": round(t_cv, 4)}, notes,
    )
