"""Validation during ``crfkit train``: a fixed synthetic set and best-weights selection.

A few of the training curves are held aside (never trained on) and rendered,
once and reproducibly, through the synthetic camera on whole *training*
images.  Every ``val_every`` steps the model is scored on this set exactly as
the held-out evaluation scores an estimator (the estimator's own inference
path in eval mode, RMSE of the inverse CRF on the 1024-point grid), and the
best weights so far are kept.  The DoRF test curves and the held-out images
are never touched: the curves come from the training split and the images
from the training image split.
"""

import copy
import warnings

import numpy as np

from ..errors import ValidationError

#: seed of the permutation that picks the held-aside validation curves (fixed, so runs are comparable)
VAL_SPLIT_SEED = 1234

ESTIMATORS = {
    "crf-net": ("crfkit.estimators.crf_net", "CRFNetEstimator"),
    "linearization-net": ("crfkit.estimators.linearization_net", "LinearizationNetEstimator"),
}


def split_validation_curves(curves, n_val):
    """Hold ``n_val`` curves of ``curves`` aside for validation.

    Parameters
    ----------
    curves : CurveSet
        Forward training curves (the DoRF training split in ``crfkit train``).
    n_val : int
        Curves held aside; 0 keeps every curve for training.

    Returns
    -------
    train, val : CurveSet
        Disjoint subsets (``val`` is None when ``n_val`` is 0); the choice
        depends only on ``len(curves)`` and :data:`VAL_SPLIT_SEED`.

    Raises
    ------
    ValidationError
        Fewer than ``n_val + 1`` curves.
    """
    n_val = int(n_val)
    if n_val <= 0:
        return curves, None
    if len(curves) <= n_val:
        raise ValidationError(f"cannot hold {n_val} validation curves aside from {len(curves)} training curves")
    order = np.random.RandomState(VAL_SPLIT_SEED).permutation(len(curves))
    val_idx = sorted(order[:n_val].tolist())
    train_idx = sorted(order[n_val:].tolist())
    return curves[train_idx], curves[val_idx]


class Validator:
    """A fixed validation set and the best weights seen on it.

    Parameters
    ----------
    method : str
        ``'crf-net'`` or ``'linearization-net'``.
    images : sequence of LinearImage or ndarray
        Training-split linear images (whole, at the training scale).
    curves : CurveSet
        The held-aside forward curves.
    n_pairs : int
        (image, curve) pairs rendered; image ``k % n_images`` with curve ``k % n_curves``.
    seed : int
        Seed of the renderings (independent of the training samples).
    config : SynthesisConfig, optional
        How the set is rendered (default: whole images, no flips, the plain synthetic camera; the
        camera-pipeline mode's training passes its own). With the camera pipeline the truth is
        the drawn curve, the mean of the channel curves.
    """

    def __init__(self, method, images, curves, n_pairs=48, seed=0, config=None):
        from ..synthesis import SynthesisConfig, synthesize

        if method not in ESTIMATORS:
            raise ValidationError(f"no validation for method {method!r}")
        if len(images) == 0 or len(curves) == 0:
            raise ValidationError("validation needs at least one image and one curve")
        self.method = method
        self.curve_names = list(curves.names)
        # whole images, as the held-out evaluation renders them
        cfg = config if config is not None else SynthesisConfig(patch=None, flip=False)
        inverse = np.asarray(curves.inverse().values, dtype=np.float64)
        self.ldr, self.true_inverse = [], []
        for k in range(int(n_pairs)):
            ii, ci = k % len(images), k % len(curves)
            pix = getattr(images[ii], "pixels", images[ii])
            rng = np.random.default_rng([int(seed), 7919, k])
            for _ in range(cfg.max_tries):
                ldr, _, bad = synthesize(pix, curves.values[ci], rng, cfg)
                if bad <= cfg.max_bad_fraction:
                    break
            self.ldr.append(ldr)
            self.true_inverse.append(inverse[ci])
        self.history = []
        self.best_score = None
        self.best_step = None
        self.best_state = None

    def score(self, model):
        """Mean inverse-CRF RMSE of ``model`` (in eval mode) on the set; restores its mode."""
        import importlib

        mod_name, cls_name = ESTIMATORS[self.method]
        cls = getattr(importlib.import_module(mod_name), cls_name)
        was_training = model.training
        device = next(model.parameters()).device
        try:
            est = cls(model=model, device=str(device))  # puts the model in eval mode
            errs = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # exposure warnings: the renderings are checked already
                for ldr, g_true in zip(self.ldr, self.true_inverse):
                    g = np.asarray(est.estimate(ldr).values, dtype=np.float64)
                    errs.append(float(np.sqrt(np.mean((g - g_true) ** 2))))
        finally:
            model.train(was_training)
        return float(np.mean(errs))

    def update(self, model, step):
        """Score ``model`` at ``step``; keep a copy of its weights when it is the best so far.

        Returns
        -------
        dict
            ``step``, ``val_curve_rmse``, ``best`` (whether it is the new best).
        """
        s = self.score(model)
        best = self.best_score is None or s < self.best_score
        if best:
            self.best_score, self.best_step = s, int(step)
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        entry = {"step": int(step), "val_curve_rmse": s, "best": best}
        self.history.append(entry)
        return entry

    def state(self):
        """What a checkpoint keeps to resume the selection."""
        return {"best_score": self.best_score, "best_step": self.best_step, "best_state": self.best_state,
                "history": copy.deepcopy(self.history), "curves": self.curve_names}

    def load_state(self, state):
        if not state:
            return
        self.best_score = state.get("best_score")
        self.best_step = state.get("best_step")
        self.best_state = state.get("best_state")
        self.history = list(state.get("history", []))

    def summary(self):
        """Provenance fields of the selection."""
        return {"selected": "best validation score", "best_step": self.best_step,
                "best_val_curve_rmse": self.best_score, "val_curves": self.curve_names, "val_pairs": len(self.ldr),
                "val_history": self.history}
