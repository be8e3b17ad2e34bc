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


def projected_ui(server):
    """The board alone, as a teacher's `?panel=board` link projects it: every experiment's best and newest posts
    in large type at the top of the page, refreshed every few seconds, and the teacher's clear below. A student
    who followed the link gets to the training page with one button (the board stays open there)."""
    board = resources.class_board(server.board_url)
    with st.container(key="projected-board"):
        st.title("Class board")
        st.markdown("Train a run, open **Class board** under *For the classroom*, and press **Post my run**: "
                    "it shows here within seconds.")
        posts_ui(board, None, projected=True)
    st.button("Open the training page", key="leave-board", icon=":material/arrow_back:", on_click=leave_projection,
              help="The page with Train and the settings, with the class board open below it.")
    teacher_ui(board, server)


def leave_projection():
    """The button's callback: this session shows the whole page from now on (a reload projects the board again)."""
    st.session_state.projected = False


@st.fragment(run_every=REFRESH_SECONDS)
def posts_ui(board, digits, projected=False):
    """The newest and best posts, refreshed every few seconds without rerunning the page. Projected: the best
    first, as plain tables whose text the page's CSS makes large (a data grid draws its text at one size)."""
    try:
        newest, best = board.newest(digits=digits), board.best(digits=digits)
    except BoardError as e:
        st.warning(str(e))
        return
    st.caption(f"Runs on {digits_label(digits)}." if digits else "Every experiment on this server.")
    left, right = st.columns(2)
    tables = [(right, "Newest", newest), (left, "Best", best)] if projected else \
        [(left, "Newest", newest), (right, "Best", best)]
    for where, title, posts in tables:
        where.markdown(f"**{title}**")
        rows = [post_row(p) for p in posts]
        if projected:
            where.table(rows or [{"name": "no posts yet"}], hide_index=True)
        else:
            where.dataframe(rows, hide_index=True, width="stretch")
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
