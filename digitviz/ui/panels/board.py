"""Class board: post a finished run under a name; everyone on the server sees the newest and the best."""
import uuid

import streamlit as st

from digitviz.board import BoardError, board_csv
from digitviz.text import digits_label, post_row
from digitviz.ui import resources
from digitviz.ui.link import client_key

REFRESH_SECONDS = 5  # a projected board shows new posts by itself; each refresh reruns only the board's tables


def board_ui(run, server):
    """Post this session's run; the newest and best posts of this experiment; the teacher's clear."""
    board = resources.class_board(server.board_url)
    session = st.session_state.setdefault("session_id", uuid.uuid4().hex)
    name = st.text_input("Your name on the board", key="board_name", placeholder="e.g. Ada",
                         help="Up to 40 letters, in one alphabet.")
    finished = run is not None and run.records and run.status in ("done", "paused", "diverged")
    if st.button("Post my run", key="post", disabled=not finished,
                 help="Posts your current run's settings and final accuracy; posting the same settings again "
                      "replaces your earlier post."):
        try:
            board.post(name, run.settings(), run.last.valid_acc, run.last.valid_loss, run.last.epoch, session,
                       client=client_key())
            st.success("Posted: your run is on the board.")
        except BoardError as e:
            st.error(str(e))
    digits = run.digits if run is not None else None
    every = st.toggle("Every experiment", key="board_all", value=digits is None,
                      help="Off: only runs on the same digits as yours, so that their accuracies compare.")
    posts_ui(board, None if every or digits is None else tuple(digits))
    teacher_ui(board, server)


@st.fragment(run_every=REFRESH_SECONDS)
def posts_ui(board, digits):
    """The newest and best posts, refreshed every few seconds without rerunning the page."""
    try:
        newest, best = board.newest(digits=digits), board.best(digits=digits)
    except BoardError as e:
        st.warning(str(e))
        return
    st.caption(f"Runs on {digits_label(digits)}." if digits else "Every experiment on this server.")
    left, right = st.columns(2)
    left.markdown("**Newest**")
    left.dataframe([post_row(p) for p in newest], hide_index=True, width="stretch")
    right.markdown("**Best**")
    right.dataframe([post_row(p) for p in best], hide_index=True, width="stretch")
    st.download_button("The board (CSV)", lambda: board_csv(newest), "digitviz-board.csv", "text/csv",
                       key="dl-board")


def teacher_ui(board, server):
    """Clear the board with the teacher's passphrase."""
    # open while a passphrase is typed in, so that the answer to a wrong one stays in view
    with st.expander("Teacher: clear the board", expanded=bool(st.session_state.get("board_passphrase"))):
        phrase = st.text_input("Passphrase", type="password", key="board_passphrase")
        if st.button("Clear the board", key="clear-board"):
            try:
                st.success(f"Cleared {board.clear(phrase, server.passphrase, client=client_key())} posts.")
            except BoardError as e:
                st.error(str(e))
