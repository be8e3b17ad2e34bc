"""Class board: post a finished run under a name; everyone on the server sees the newest and the best."""
import uuid

import streamlit as st

from digitviz.board import BoardError
from digitviz.text import post_row
from digitviz.ui import resources


def board_ui(run, server):
    """Post this session's run; the newest and best posts; the teacher's clear."""
    board = resources.class_board(server.board_url)
    session = st.session_state.setdefault("session_id", uuid.uuid4().hex)
    name = st.text_input("Your name on the board", max_chars=40, key="board_name", placeholder="e.g. Ada")
    finished = run is not None and run.records and run.status in ("done", "paused", "diverged")
    if st.button("Post my run", key="post", disabled=not finished,
                 help="Posts your current run's settings and final accuracy."):
        try:
            board.post(name, run.settings(), run.last.valid_acc,
                       run.last.valid_loss, run.last.epoch, session)
            st.success("Posted: your run is on the board.")
        except BoardError as e:
            st.error(str(e))
    try:
        newest, best = board.newest(), board.best()
    except BoardError as e:
        st.warning(str(e))
        return
    left, right = st.columns(2)
    left.markdown("**Newest**")
    left.dataframe([post_row(p) for p in newest], hide_index=True, width="stretch")
    right.markdown("**Best**")
    right.dataframe([post_row(p) for p in best], hide_index=True, width="stretch")
    # open while a passphrase is typed in, so that the answer to a wrong one stays in view
    with st.expander("Teacher: clear the board", expanded=bool(st.session_state.get("board_passphrase"))):
        phrase = st.text_input("Passphrase", type="password", key="board_passphrase")
        if st.button("Clear the board", key="clear-board"):
            try:
                st.success(f"Cleared {board.clear(phrase, server.passphrase)} posts.")
            except BoardError as e:
                st.error(str(e))
