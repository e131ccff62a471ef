"""A torch ``Dataset`` that synthesises training samples on the fly.

Sample ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so the data
do not depend on the number of workers, the batch order or a resume point.
"""

import numpy as np

from .._optional import require
from .pipeline import SynthesisConfig, synthesize_sample

torch = require("torch", "torch", feature="the synthetic training dataset")


class SyntheticCRFDataset(torch.utils.data.Dataset):
    """Infinite-style map dataset of synthetic (LDR, linear, CRF) triples.

    Parameters
    ----------
    images : sequence of LinearImage or ndarray
        Linear source images.
    curves : CurveSet
        Forward CRFs to draw from (the DoRF training split for training).
    seed : int
    config : SynthesisConfig, optional
    length : int
        Nominal length (indices are only used as seeds).

    Items are dicts of tensors: ``ldr`` (3, P, P) float in [0, 1] (the 8-bit
    values / 255), ``target`` (3, P, P), ``forward`` and ``inverse`` (1024,),
    ``label`` (int64).
    """

    def __init__(self, images, curves, seed=0, config=None, length=2**31 - 1):
        self.images = list(images)
        self.curves = curves
        self.forward = torch.as_tensor(np.asarray(curves.values, dtype=np.float32))
        self.inverse = torch.as_tensor(np.asarray(curves.inverse().values, dtype=np.float32))
        self.seed = int(seed)
        self.config = config or SynthesisConfig()
        self.length = int(length)

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, int(index)])
        s = synthesize_sample(self.images, self.curves, rng, self.config)
        ldr = torch.from_numpy(s["ldr"]).permute(2, 0, 1).float().div_(255.0)
        target = torch.from_numpy(s["target"]).permute(2, 0, 1).contiguous()
        label = s["label"]
        if s.get("tone") is not None:  # the camera applied a tone-composed curve: that is the target
            from ..curves.curve import invert_values

            fwd = np.asarray(s["forward"], dtype=np.float64)
            forward = torch.as_tensor(fwd.astype(np.float32))
            inverse = torch.as_tensor(invert_values(np.maximum.accumulate(fwd)).astype(np.float32).reshape(-1))
        else:
            forward, inverse = self.forward[label], self.inverse[label]
        return {
            "ldr": ldr,
            "target": target,
            "forward": forward,
            "inverse": inverse,
            "label": torch.tensor(label, dtype=torch.int64),
        }


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields the index batches of steps ``start, start+1, ...`` for one rank.

    Step ``s`` of rank ``r`` of ``world`` uses indices
    ``((s * world + r) * batch_size + k)``, so a resumed or multi-process run
    sees exactly the samples an uninterrupted single run would assign it.
    """

    def __init__(self, batch_size, start_step=0, stop_step=None, rank=0, world=1):
        self.batch_size = int(batch_size)
        self.start_step = int(start_step)
        self.stop_step = stop_step
        self.rank = int(rank)
        self.world = int(world)

    def __iter__(self):
        step = self.start_step
        while self.stop_step is None or step < self.stop_step:
            base = (step * self.world + self.rank) * self.batch_size
            yield list(range(base, base + self.batch_size))
            step += 1

    def __len__(self):
        if self.stop_step is None:
            return 2**31 - 1
        return max(0, self.stop_step - self.start_step)
