"""What the layer view and the compare view share: they follow the 28x28 input the canvas's
model was given (``resultReady``) and recompute their own picture of it."""

from __future__ import annotations

import numpy as np


class FollowsModelInput:
    """Mixed into a view with ``_input``, ``_input_dataset``, ``_dataset``, ``_controller`` and
    ``_refresh()``. No @Slot here: PySide6 connects a mixin's @Slot methods as direct calls
    (desktop_app/window/__init__.py)."""

    def _class_names(self) -> list[str]:
        """The canvas model's own (a classifier's model may predate a class added since)."""
        from training.core.datasets import dataset_info

        info = self._controller.model(self._dataset)
        return info.class_names if info else list(dataset_info(self._dataset).class_names)

    def _on_result(self, reply) -> None:
        """``reply``: the controller's Classification of the newest drawing."""
        if reply.blank:
            self._input = None
        elif reply.input is not None:
            self._input = np.asarray(reply.input, np.float32)
            self._input_dataset = reply.dataset
        else:
            return  # an answer without a model input (an error): the view keeps its own
        self._refresh()
