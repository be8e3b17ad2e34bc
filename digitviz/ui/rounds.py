"""Class rounds on the page: a student's question, vote and sketch, then the reveal; the teacher's panel.

A student's link `?round=CODE` joins a round. Until the reveal the page shows the question and the experiment's
settings in words, and no controls: everyone predicts the same run. At the reveal the page trains it through the
usual path (the trajectory cache makes it one computation for the class), and the player plays it beside the
votes and the class's sketched curves. The projector opens the same link: it shows how many have voted, never
how, until the teacher moves on from the "Class round" panel.
"""
import io
import uuid

import segno
import streamlit as st

from digitviz import rounds
from digitviz.board import BoardError, display_name
from digitviz.figures_rounds import predictions_figure, sketch_lines, votes_figure
from digitviz.questions import BANK, custom_question
from digitviz.settings import DEFAULTS
from digitviz.text import config_words, plain_markdown
from digitviz.ui import dashboard, resources
from digitviz.ui.link import client_key

POLL_SECONDS = 2  # a projector's count and every student's stage follow the teacher within this
SKETCH_WIDTH, SKETCH_HEIGHT = 320, 180
INK = "#d62728"  # the sketch's red: told apart from the grid's greys by colour
# A phone is already in the round: its first screen is the question, not the QR code it was scanned from.
PHONE_HIDES_JOIN = "<style>@media (max-width: 640px) { .st-key-round-join { display: none; } }</style>"
NEXT = {"vote": ("vote_again", "Vote again"), "vote_again": ("reveal", "Reveal"), "reveal": ("closed", "Close")}


def session_id():
    return st.session_state.setdefault("session_id", uuid.uuid4().hex)


def joined_round(server):
    """The round this page's link joined (?round=CODE) as it stands now, or None. A wrong or expired code says so
    and the page goes on as a plain page."""
    code = st.session_state.setdefault("round_code", link_code())
    joined = read_round(code, server) if code else None
    if joined is None:
        st.session_state.round_code = None
    return joined


def read_round(code, server):
    """The round as it stands now, or None after saying why not (it ended, the database is down)."""
    try:
        return resources.class_rounds(server.board_url).get(code)
    except BoardError as e:
        st.warning(str(e), icon=":material/how_to_vote:")
        return None


def link_code():
    """The link's round code, if it looks like one (letters are case-blind: a phone may capitalise or not)."""
    raw = str(st.query_params.get("round", "")).strip().upper()
    if raw and (len(raw) != rounds.CODE_LENGTH or set(raw) - set(rounds.CODE_LETTERS)):
        st.warning(f"'{plain_markdown(raw[:12])}' is not a round code: ask your teacher for the link.")
        return None
    return raw or None


def round_link(joined):
    """What the page's address keeps of the round: its code, so that a refresh stays in it."""
    return {"round": joined.code} if joined else {}


def reveal_action(joined):
    """'train' the first time this page sees its round revealed: the class's run plays in every player."""
    if joined.stage in ("reveal", "closed") and st.session_state.get("revealed") != joined.code:
        st.session_state.revealed = joined.code
        return "train"
    return None


def round_ui(joined, server, config, digits):
    """The question, the experiment (`config` on `digits`) and what the student can do at this stage; returns a
    placeholder for the reveal's results."""
    q = joined.question
    st.subheader(f"Class round {joined.code}: predict, then watch")
    left, right = st.columns([3, 1])
    left.markdown(f"**{plain_markdown(q.prompt)}**")
    left.caption(f"The experiment: {config_words(config, digits)}, {config.epochs} epochs.")
    with right, st.container(key="round-join"):  # on the projector, how the rest of the class joins
        join_ui(joined.code, caption=f"Join round {joined.code}")
    st.html(PHONE_HIDES_JOIN)
    if joined.stage in rounds.VOTING:  # revealed, the page is final (closing changes nothing on it): no more polls
        stage_watch(joined.code, joined.stage, server)
        vote_ui(joined, server)
        resources.trainer(server).prepare(config, digits)  # the reveal's run, computed while the class votes
    return st.empty()


@st.fragment(run_every=POLL_SECONDS)
def stage_watch(code, shown, server):
    """How many have voted (never how), and a rerun of the whole page once the teacher has moved on. Only while
    the class votes: a page that stops calling it stops its timer too (the browser drops every `run_every` timer
    at a full rerun), so a hundred revealed pages no longer poll the server every 2 s."""
    now = read_round(code, server)
    if now is None:
        return
    if now.stage != shown:
        st.rerun()  # the page's stage is out of date: draw the next one (a new question, the reveal)
    if now.stage in rounds.VOTING:
        vote = rounds.VOTING[now.stage]
        again = " (second vote, after discussion)" if vote == 2 else ""
        st.metric(f"Votes so far{again}", now.voters(vote))


def vote_ui(joined, server):
    """Pick an option, optionally sketch the curve and give a name; vote, and change it until the stage closes."""
    q, stage, key = joined.question, joined.stage, f"{joined.code}-{joined.stage}"
    mine = joined.own(session_id()).get(rounds.VOTING[stage])
    st.radio("Your prediction", range(len(q.options)), format_func=lambda i: plain_markdown(q.options[i]),
             index=mine.option if mine else None, key=f"option-{key}")
    st.session_state[f"ink-{key}"] = sketch_ui(f"sketch-{key}")
    st.text_input("Your name (optional: the teacher's results are anonymous without one)",
                  key=f"round-name-{joined.code}", max_chars=40)
    # A callback, not `if st.button(...)`: it runs even when the teacher moved on since this page was drawn, so the
    # vote is refused in words instead of vanishing with the old stage's button.
    st.button("Vote", type="primary", key=f"vote-{key}", on_click=cast_vote, args=(joined.code, stage, server))
    note = st.session_state.pop("round_note", None)
    if note:
        getattr(st, note[0])(note[1])
    if mine is not None:
        st.caption(f"Your vote: **{plain_markdown(q.options[mine.option])}**. You can change it until the teacher "
                   "moves on.")


def sketch_ui(key):
    """A small canvas to draw the validation accuracy curve you expect (mouse or finger): its ink, or None."""
    from streamlit_drawable_canvas import st_canvas  # registers a component: only inside a running page

    st.caption("Optional: sketch the validation accuracy you expect, from the first epoch (left) to the last "
               "(right); the top is 100%, the bottom 0%.")
    canvas = st_canvas(stroke_width=4, stroke_color=INK, background_image=sketch_grid(), height=SKETCH_HEIGHT,
                       width=SKETCH_WIDTH, drawing_mode="freedraw", return_image_data=True, key=key)
    if canvas.image_data is None:
        return None
    rgb = canvas.image_data[:, :, :3].astype(int)
    return (rgb[:, :, 0] - rgb[:, :, 1] > 60) & (canvas.image_data[:, :, 3] > 0)  # the red ink, not the grey grid


@st.cache_resource
def sketch_grid():
    """The sketch canvas's background: lines at 0, 25, 50, 75 and 100%, labelled, in greys the red ink stands out
    from (cached: the canvas sends its background to the browser once)."""
    from PIL import Image, ImageDraw

    grid = Image.new("RGB", (SKETCH_WIDTH, SKETCH_HEIGHT), "#f7f8fa")
    draw = ImageDraw.Draw(grid)
    for percent in (0, 25, 50, 75, 100):
        y = round((1 - percent / 100) * (SKETCH_HEIGHT - 1))
        draw.line([(0, y), (SKETCH_WIDTH, y)], fill="#c9cfd6" if percent % 50 else "#9aa5b1")
        if percent % 50 == 0:
            draw.text((4, min(max(y - 12, 0), SKETCH_HEIGHT - 12)), f"{percent}%", fill="#5f6b78")
    draw.text((SKETCH_WIDTH - 70, SKETCH_HEIGHT - 14), "last epoch", fill="#5f6b78")
    return grid


def cast_vote(code, stage, server):
    """The Vote button's callback, for the stage its page showed; what happened goes to the page as a note."""
    key = f"{code}-{stage}"
    option = st.session_state.get(f"option-{key}")
    if option is None:
        st.session_state.round_note = ("error", "Pick one of the options first.")
        return
    ink = st.session_state.get(f"ink-{key}")
    try:
        resources.class_rounds(server.board_url).vote(
            code, stage, session_id(), option, sketch=None if ink is None else rounds.sketch_points(ink),
            name=st.session_state.get(f"round-name-{code}") or None, client=client_key())
        st.session_state.round_note = ("success", "Vote counted.")
    except BoardError as e:
        st.session_state.round_note = ("error", str(e))


def show_run(run, view, hidden):
    """The round's run once revealed; before that, what the empty dashboard is waiting for."""
    if run is None:
        view["status"].info("The run plays here when your teacher reveals the answer: predict first.",
                            icon=":material/how_to_vote:")
    else:
        dashboard.show_run(run, view, hidden, run.config, run.digits)


def reveal_ui(where, joined, run):
    """The votes with the right answer marked, who moved to it, the class's sketches behind the true curve, your
    own vote, then the explanation."""
    if joined.stage not in ("reveal", "closed"):
        return
    q = joined.question
    with where.container():
        left, right = st.columns(2)
        second = joined.counts(2) if joined.voters(2) else None
        quiet = {"displayModeBar": False}  # a projected chart to read, not to zoom; its toolbar hid the legend
        left.plotly_chart(class_votes_figure(q.options, q.answer, tuple(joined.counts(1)), second and tuple(second)),
                          key="round-votes", config=quiet)
        moved, both = joined.moved_to_right()
        if second is not None and q.answer is not None:
            left.caption(f"{moved} of the {both} who voted twice moved to the right answer after discussion.")
        mine = joined.own(session_id())
        last = mine.get(2) or mine.get(1)
        records = run.records if run is not None else []
        guesses = class_guesses(joined.code, joined.stage, (joined.voters(1), joined.voters(2)), joined)
        right.plotly_chart(predictions_figure(guesses, records, q.settings()["epochs"], last and last.sketch),
                           key="round-curves", config=quiet)
        if last is not None:
            verdict = "" if q.answer is None else (" That was right." if last.option == q.answer else
                                                   f" The answer was: **{plain_markdown(q.options[q.answer])}**")
            st.info(f"You predicted: **{plain_markdown(q.options[last.option])}**{verdict}")
        if q.explanation:
            st.success(plain_markdown(q.explanation), icon=":material/school:")


# At the reveal every page of the class draws the same votes and the same sketches at once: these are made once
# per round and count (a vote counted since makes them anew), and shared, since Streamlit only reads a figure.
@st.cache_resource(max_entries=64, show_spinner=False)
def class_votes_figure(options, answer, first, second):
    return votes_figure(options, answer, first, second)


@st.cache_resource(max_entries=64, show_spinner=False)
def class_guesses(code, stage, voters, _joined):
    """The class's sketches as one line (figures_rounds.sketch_lines); `_joined`, the round read with these
    counts, is left out of the key."""
    sketches = [v.sketch for n in (1, 2) for v in _joined.votes.get(n, {}).values() if v.sketch]
    return sketch_lines(sketches, _joined.question.settings()["epochs"])


def teacher_ui(run, server):
    """The teacher's panel: choose a question, open a round, move it on; the code, the link and a QR code."""
    phrase = st.text_input("Teacher passphrase", type="password", key="round_passphrase")
    teaching = st.session_state.get("teaching")
    if teaching is None:
        open_ui(run, server, phrase)
    else:
        teaching_ui(teaching, server, phrase)


def open_ui(run, server, phrase):
    keys = [*BANK, "custom"]
    key = st.selectbox("Question", keys, key="round_question",
                       format_func=lambda k: BANK[k].prompt if k in BANK else "My own, on my current settings")
    question = BANK.get(key)
    if key == "custom":
        prompt = st.text_input("Your question", key="round_prompt", max_chars=200)
        options = st.text_area("Options, one a line (2 to 4)", key="round_options").splitlines()
        answer = st.number_input("The right option's number (0: none)", 0, 4, key="round_answer")
        values = {name: st.session_state[name] for name in DEFAULTS}
        try:
            question = custom_question(values, prompt, options, answer - 1 if answer else None)
        except ValueError as e:
            st.caption(str(e))
            question = None
    if st.button("Open the round", key="open-round", type="primary", disabled=question is None):
        try:
            st.session_state.teaching = resources.class_rounds(server.board_url).open(
                question, phrase, server.passphrase, client=client_key())
            st.rerun()
        except BoardError as e:
            st.error(str(e))


def join_link(code):
    return f"{(st.context.url or '').split('?')[0]}?round={code}"  # the page's own address (none in AppTest)


def join_ui(code, caption="Scan to join"):
    """The round's QR code, for phones to join."""
    st.image(qr_png(join_link(code)), caption=caption, width=180)


@st.cache_data(max_entries=64)
def qr_png(link):
    """A link's QR code as PNG bytes: made once per round, not at every student's rerun."""
    png = io.BytesIO()
    segno.make(link, error="m").save(png, kind="png", scale=8, border=2)
    return png.getvalue()


def teaching_ui(code, server, phrase):
    """The open round: its code, link and QR code to project, the count, and the button to move it on."""
    link = join_link(code)
    left, right = st.columns([2, 1])
    left.markdown(f"## Round code **{code}**\nStudents open [{link}]({link}); project the same link to show the "
                  "count, then the reveal.")
    with right:
        join_ui(code)
    teacher_watch(code, server, phrase)


@st.fragment(run_every=POLL_SECONDS)
def teacher_watch(code, server, phrase):
    """The round's stage and counts, live, and the button that moves it on; the results once revealed."""
    joined = read_round(code, server)
    if joined is None:
        st.session_state.teaching = None
        return
    st.markdown(f"Stage: **{joined.stage.replace('_', ' ')}**; first vote: **{joined.voters(1)}** students"
                + (f", second: **{joined.voters(2)}**" if joined.voters(2) else ""))
    buttons = [NEXT[joined.stage]] if joined.stage in NEXT else []
    if joined.stage == "vote":
        buttons.append(("reveal", "Reveal now"))
    for stage, label in buttons:
        if st.button(label, key=f"round-{stage}"):
            try:
                resources.class_rounds(server.board_url).advance(code, stage, phrase, server.passphrase,
                                                                 client=client_key())
                st.rerun()
            except BoardError as e:
                st.error(str(e))
    if joined.stage in ("reveal", "closed"):
        st.download_button("The round's results (CSV)", rounds.round_csv(joined), f"digitviz-round-{code}.csv",
                           "text/csv", key="dl-round")
        names = sorted({v.name for n in (1, 2) for v in joined.votes.get(n, {}).values() if v.name})
        if names:
            st.caption("Named: " + ", ".join(display_name(n) for n in names))
    if st.button("New round", key="new-round"):
        st.session_state.teaching = None
        st.rerun()
