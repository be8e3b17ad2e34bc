"""Mistakes: the validation digits the run's model gets most confidently wrong, and its confusion matrix."""
import numpy as np
import streamlit as st

from digitviz.classify import confusion_matrix, mistakes
from digitviz.figures import confusion_figure
from digitviz.text import article
from digitviz.ui import CHART, resources


def mistakes_ui(run, server):
    """The most confident mistakes first, beside the confusion matrix."""
    if run is None or not run.records:
        st.caption("Train a model to see which validation digits it gets wrong.")
        return
    data = resources.lesson_data(run.digits)[0]
    params = run.last.params
    wrong = mistakes(params, data, limit=24)
    left, right = st.columns([1, 2])
    left.plotly_chart(confusion_figure(confusion_matrix(params, data), run.digits), key="confusion", **CHART)
    if not wrong:
        right.success("No mistakes on the validation set.")
        return
    right.markdown(f"**The {len(wrong)} most confident mistakes** of run {run.number} at epoch {run.last.epoch}:")
    images = [np.asarray(data.valid_x[m.index]).reshape(28, 28) for m in wrong]
    captions = [f"{article(m.true_digit)} {m.true_digit}, said {m.said} ({m.confidence:.1%})" for m in wrong]
    right.image(images, caption=captions, width=84)
