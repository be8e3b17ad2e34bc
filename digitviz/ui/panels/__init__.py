"""The classroom panels, one module each; a panel is built only when a student opens it."""
import streamlit as st

from digitviz.ui import rounds
from digitviz.ui.panels import board, compare, files, mistakes


def inside_ui(run, server):
    """Inside SGD, imported when first opened: the lesson's mechanics compute in torch, and a page opens before
    its server has loaded torch."""
    from digitviz.ui.panels.inside import inside_ui
    inside_ui(run, server)


PANELS = {"mistakes": ("Mistakes", mistakes.mistakes_ui), "compare": ("Compare runs", compare.compare_ui),
          "board": ("Class board", board.board_ui), "files": ("Save and load", files.files_ui),
          "inside": ("Inside SGD", inside_ui), "round": ("Class round", rounds.teacher_ui)}


def panels_ui(run, server):
    """The panel picker and the open panel; returns the open panel's name for the link, or None."""
    panel = st.segmented_control("For the classroom", list(PANELS), key="panel",
                                 format_func=lambda name: PANELS[name][0],
                                 help="Each opens below. Closed panels cost the shared server nothing.")
    if panel:
        PANELS[panel][1](run, server)
    return panel
