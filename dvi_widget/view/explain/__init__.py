"""The widget's Explain panel (``"explain"`` in ``Widget.panels``; front end ``js/src/explain/``):
ask the model about one sample or a class, one module per tool, each drawn over the landscape.

=============== ===================================== ======================================
tool            module (computes)                      synced trait (what every view draws)
=============== ===================================== ======================================
what-if path    :mod:`.path` (a perturbation family    ``explain_path``: positions float32
                over strengths, placed by the one      (S, 2) in the widget's square (the
                map: it starts on the drawn sample)    map's), predictions uint16,
adversarial     :mod:`.adversarial` (FGSM/PGD steps    confidence, strengths; first flip,
                toward a class)                        the request (re-sent per epoch),
                                                       images uint8 (S, h, w[, c]): the
                                                       perturbed inputs; PGD's eps
robustness      :mod:`.robustness` (mean softmax and   ``explain_robustness``: strengths,
                share flipped vs strength)             mean_probability (S, C), flipped, ...
surrogate       :mod:`.surrogate` (DeepVID's local     ``explain_surrogate``: weights (K, h,
                linear student)                        w), neighbours' positions, ...,
                                                       image uint8 (h, w[, c]): the sample's
                                                       input as the path's pictures show it
=============== ===================================== ======================================

The panel asks through the envelope of :mod:`dvi_widget.view.protocol` (panel ``"explain"``,
``type``: ``kinds`` | ``path`` (``follow``: the drawn path at a new epoch, answered from the
trait when another view asked already) | ``robustness`` | ``surrogate``; a robustness request of a
selection carries buffer 0: uint32 sample indices). The kernel sets the tool's trait and replies
``{"compute_ms"}`` (``kinds``: ``{"kinds"}``), so a drawn path or a shown explanation is part of
the widget's state (``save_html`` keeps it) and every view of the widget shows it. The model is
asked through ``vis.inspector`` when it implements :class:`~dvi_widget.contract.Explaining`
(a fitted DVI's inspector does): the view never imports the engine or :mod:`dvi_widget.explain`.
"""

from .model import NO_INSPECTOR, available, explaining
from .panel import PANEL, ExplainMixin, handle, show_panel

__all__ = ["NO_INSPECTOR", "PANEL", "ExplainMixin", "available", "explaining", "handle",
           "show_panel"]
