"""``auto``: the two networks' inverse curves combined (issue 14, item 5).

``g = w * g_crf-net + (1 - w) * g_linearization-net``, with ``w`` chosen on a
synthetic validation set (held-aside DoRF training curves x training images)
and the method shipped only because it beat each network on the synthetic
held-out set by the rule written down before it was scored
(docs/results/estimators.md).
"""

import numpy as np

from crfkit.curves import Curve, CurveSet
from crfkit.estimators.base import DEFAULT_NET_MODE, Estimator, check_per_channel

#: weight of crf-net's curve (the rest is linearization-net's); chosen on the validation set
CRF_NET_WEIGHT = 0.75


class AutoEstimator(Estimator):
    """``auto``: a weighted mean of the crf-net and linearization-net inverse curves.

    Parameters
    ----------
    device, threads
        As for the networks (:class:`~crfkit.estimators._net.NetEstimator`); both are built with them.
    crf_net_weights, linearization_net_weights : str or Path, optional
        Weight files of the two networks (default: the shipped ones).
    per_channel : bool or {'gray', 'offset'}
        Three curves R, G, B: each network's per-channel curves (that mode), combined channel by channel.

    Every option is checked before anything is loaded; a bad value raises
    :class:`~crfkit.ValidationError` naming it.
    """

    name = "auto"
    per_channel_modes = ("gray", "offset")

    def __init__(self, device=None, threads=None, crf_net_weights=None, linearization_net_weights=None,
                 per_channel=False):
        from crfkit.estimators import get_estimator

        opts = self._check_values(dict(device=device, threads=threads, crf_net_weights=crf_net_weights,
                                       linearization_net_weights=linearization_net_weights,
                                       per_channel=per_channel))
        self.per_channel = opts["per_channel"]
        common = {k: opts[k] for k in ("device", "threads") if opts[k] is not None}
        if self.per_channel:
            common["per_channel"] = self.per_channel
        self.crf_net = get_estimator("crf-net", weights=opts["crf_net_weights"], **common)
        self.linearization_net = get_estimator("linearization-net", weights=opts["linearization_net_weights"],
                                               **common)
        self.min_size = max(self.crf_net.min_size, self.linearization_net.min_size)
        self.weight = CRF_NET_WEIGHT

    @classmethod
    def _check_values(cls, options):
        from crfkit.plugins import check_network_options

        net = {k: options[k] for k in ("device", "threads") if k in options}
        check_network_options(net, cls.name)
        options.update(net)
        for key in ("crf_net_weights", "linearization_net_weights"):
            if key in options and options[key] is not None:
                w = {"weights": options[key]}
                check_network_options(w, f"{cls.name} ({key})")
                options[key] = w["weights"]
        if "per_channel" in options:
            options["per_channel"] = check_per_channel(options["per_channel"], cls.name, cls.per_channel_modes,
                                                       DEFAULT_NET_MODE)
        return options

    def estimate_inverse(self, image):
        a = np.asarray(self.crf_net.estimate_inverse(image).values, dtype=np.float64)
        b = np.asarray(self.linearization_net.estimate_inverse(image).values, dtype=np.float64)
        g = self.weight * a + (1.0 - self.weight) * b  # a convex mix of valid curves is valid
        g = np.maximum.accumulate(np.clip(g, 0.0, 1.0), axis=-1)
        g[..., 0], g[..., -1] = 0.0, 1.0
        meta = {"method": "auto", "crf_net_weight": self.weight}
        if g.ndim == 2:
            return CurveSet(g, kind="inverse", names=["R", "G", "B"], name="auto",
                            attrs=dict(meta, per_channel=self.per_channel))
        return Curve(g, kind="inverse", name="auto", metadata=meta)


__all__ = ["AutoEstimator"]
