"""Random generators for the fixed subsets the package draws: the label-issue voters, the scored
rows of each split, DeepView's held-out rows, the probe samples recorded inside the model.

A subset drawn as ``np.random.default_rng(seed).choice(n, m, replace=False)`` (or the start of
``permutation(n)``) is, for most sizes, the start of whatever a user drew the same way with the
same seed, and noisy-label experiments draw their flipped samples exactly so. On a 60k benchmark
run whose flips were drawn with seed 0, the label-issue voters drawn with seed 0 were the 6,000
flipped samples themselves (that method's precision@k fell to 0.73); a 10k run's 1,000 scored
rows would be its 1,000 flipped samples. :func:`subset_rng` mixes the seed with a salt of the
package's own (a ``SeedSequence`` of both), so a draw stays reproducible and follows the seed it
is given, but is independent of any draw a user makes from a plain integer seed.
"""

from __future__ import annotations

import numpy as np

#: mixed into every fixed draw (see the module docstring)
SALT = 0x5EED_1AB
#: names how the fixed subsets are drawn, for the caches and fit hashes that depend on them
DRAW = "salted-1"


def subset_rng(seed: int = 0) -> np.random.Generator:
    """A generator for a fixed subset: ``seed`` mixed with :data:`SALT`."""
    return np.random.default_rng([int(seed), SALT])
