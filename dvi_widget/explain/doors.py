"""The public :class:`DVI`: the engine's estimator with explanations on its landscapes.

The engine (:class:`dvi_widget.engine.fit.DVI`) imports nothing above it; this module, above both
the engine and :mod:`dvi_widget.explain`, adds the doors a user and the view open on a fitted
DVI: :meth:`DVI.explainer`, :meth:`DVI.what_if`, :meth:`DVI.adversarial`,
:meth:`DVI.robustness`, :meth:`DVI.surrogate`, the training dynamics and label issues
(:meth:`DVI.dynamics`, :meth:`DVI.label_issues`), and an inspector that also implements the
contract's ``Explaining`` protocol (:class:`ExplainingInspector`). ``dvi_widget.DVI`` is this
class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data.dynamics import Dynamics, dynamics_from_run
from ..data.issues import label_issues
from ..data.run.review import Review
from ..engine import fit as engine
from ..engine.embedding import DVIEmbedding
from ..engine.inspect import EngineInspector
from .explainer import Explainer


class ExplainingInspector(EngineInspector):
    """:class:`EngineInspector` plus the contract's ``Explaining``: what-if paths, Grad-CAM,
    robustness curves and surrogates as plain arrays for the view's panels.

    Parameters
    ----------
    fitted : the fitted state (``dvi.embedding_``).
    explainer : returns the :class:`Explainer` to ask (the DVI's cached one).
    """

    def __init__(self, fitted: DVIEmbedding, explainer: Callable[[], Explainer]) -> None:
        super().__init__(fitted)
        self._explainer = explainer

    def what_if_payload(self, index: int, epoch: int, kind: str = "rotate",
                        strengths: Any = None, target: int | None = None) -> dict[str, Any]:  # noqa: ANN401
        """A what-if or adversarial path of one sample as plain arrays
        (:meth:`Explainer.path_payload`)."""
        return self._explainer().path_payload(index, epoch, kind, strengths, target=target)

    def explain(self, request: dict[str, Any]) -> dict[str, Any]:
        """Any explanation request of the view (:meth:`Explainer.payload`)."""
        return self._explainer().payload(request)


class DVI(engine.DVI):
    __doc__ = (engine.DVI.__doc__ or "") + """
    Explanations on the fitted landscapes (:mod:`dvi_widget.explain`): :meth:`explainer`,
    :meth:`what_if`, :meth:`adversarial`, :meth:`robustness`, :meth:`surrogate`.
    """

    def _inspector(self) -> ExplainingInspector:
        return ExplainingInspector(self.embedding_, self.explainer)

    def dynamics(self, split: str = "all") -> Dynamics:
        """Per-sample training dynamics (cartography μ/σ/correctness, AUM, forgetting, first
        learned, last flipped) up to each recorded epoch, from the run's evaluation-pass logits:
        :func:`dvi_widget.data.dynamics.dynamics_from_run`. ``Widget(dvi)`` shows them as
        columns (``color_by="aum"``, ``filter_samples("aum < 0")``)."""
        return dynamics_from_run(self.embedding_.run_, split, keep_probabilities=True)

    def review(self) -> Review:
        """The review marks of the fitted run (:class:`dvi_widget.data.run.review.Review`):
        kept in the run folder, or in a cache folder when the run is read-only."""
        run = self.embedding_.run_
        return Review(run.path, n_samples=run.n_samples, n_classes=run.n_classes)

    def label_issues(self, epoch: int | None = None, method: Any = None,  # noqa: ANN401
                     progress: bool | None = None) -> pd.DataFrame:
        """Training samples ranked by how likely their given label is wrong (AUM, cartography,
        forgetting, cleanlab before memorisation, the landscape under the sample, the given
        labels of its nearest neighbours in the run's representations, and their combined
        rank), using the records up to ``epoch`` (default: the last fitted one):
        :func:`dvi_widget.data.issues.label_issues`. ``method``: one name or a list (default:
        all); ``progress``: a bar over the neighbours' search (default: when it is long)."""
        vis = self.visualization()
        dyn = self.dynamics()
        e = int(vis.epochs[-1] if epoch is None else epoch)
        land = vis.landscape_classes is not None
        return label_issues(dyn, epoch=int(dyn.epochs[dyn.up_to(e)]),
                            split=np.asarray(vis.split).astype(str),
                            coords=vis.coords if land else None,
                            landscape_classes=vis.landscape_classes,
                            extent=vis.extent if land else None, view_epochs=vis.epochs,
                            methods=method, class_names=vis.class_names, progress=progress)

    def explainer(self) -> Explainer:
        """Grad-CAM, what-if/adversarial paths, robustness curves and local surrogates on this
        fit's landscapes: a cached :class:`dvi_widget.explain.Explainer`, projector ``self``."""
        fitted = self.embedding_  # NotFittedError before fit
        ex = self.__dict__.get("_explainer")
        if ex is None or ex.run is not fitted.run_ or ex.device != fitted.device_:
            ex = self._explainer = Explainer(fitted.run_, projector=self, device=fitted.device_)
        return ex

    def what_if(self, index_or_input: Any, epoch: int, kind: str = "rotate",  # noqa: ANN401
                strengths: Sequence[float] | None = None, **options: Any) -> pd.DataFrame:  # noqa: ANN401
        """A perturbation path of one sample on epoch ``epoch``'s landscape: DataFrame (strength,
        x, y, prediction, confidence, ...), ``attrs["first_flip"]``; see ``Explainer.what_if``."""
        return self.explainer().what_if(index_or_input, epoch, kind, strengths, **options)

    def adversarial(self, index_or_input: Any, epoch: int, target: int | str | None = None,  # noqa: ANN401
                    **options: Any) -> pd.DataFrame:  # noqa: ANN401
        """An FGSM/PGD path toward class ``target`` on the landscape; see
        ``Explainer.adversarial``."""
        return self.explainer().adversarial(index_or_input, epoch, target, **options)

    def robustness(self, indices_or_class: Any, epoch: int, kind: str = "rotate",  # noqa: ANN401
                   strengths: Sequence[float] | None = None, **options: Any) -> pd.DataFrame:  # noqa: ANN401
        """Mean softmax per class and share flipped against strength, for a selection or a class;
        see ``Explainer.robustness``."""
        return self.explainer().robustness(indices_or_class, epoch, kind, strengths, **options)

    def surrogate(self, index_or_input: Any, epoch: int, **options: Any) -> Any:  # noqa: ANN401
        """DeepVID's local linear student around one sample (weights images, fidelity,
        neighbours on the landscape); see ``Explainer.surrogate``."""
        return self.explainer().surrogate(index_or_input, epoch, **options)
