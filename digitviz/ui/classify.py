"""Classify your own digit: draw or upload one, see what the model sees, its verdict and which strokes drove it."""
import hashlib

import streamlit as st

from digitviz import runs, text
from digitviz.classify import classify
from digitviz.data import ALL_DIGITS
from digitviz.figures import digit_figure, probabilities_figure, weight_map_figure
from digitviz.preprocess import CANVAS_EMPTY, ImageError, prepare_drawing, prepare_upload
from digitviz.ui import CHART, resources


def classify_ui(run, digits, baseline):
    """Draw or upload a digit; show what the model sees, its verdict, and which strokes drove it."""
    from streamlit_drawable_canvas import st_canvas  # registers a component: only inside a running page
    st.divider()
    st.header("Classify your own digit")
    draw_tab, upload_tab = st.tabs(["Draw", "Upload"])
    with draw_tab:
        canvas = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000", height=280,
                           width=280, drawing_mode="freedraw", return_image_data=True, key="canvas")
        st.caption(f"Draw {text.either(digits)} with the mouse or a finger, away from the toolbar in the top corner; "
                   "its bin icon clears the canvas.")
    with upload_tab:
        upload = st.file_uploader("An image of one digit: a photo of ink on paper works too",
                                  type=["png", "jpg", "jpeg", "gif", "bmp", "webp"], key="upload")
    source = latest_input(canvas, upload)
    with st.container(key="verdict"):
        try:
            original, image = prepared_input(source, canvas, upload)
        except ImageError as e:
            (st.info if str(e) == CANVAS_EMPTY else st.error)(str(e))
            return
        # only now: the default model is trained the first time something needs classifying
        params, whose = runs.classifier(run, digits, st.session_state.get("loaded_model")) or (
            resources.default_model(digits).params, "a default model trained by the page; press **Train** to use yours")
        verdict_ui(classify(params, image, digits, baseline.means), original, image, digits, whose)


def latest_input(canvas, upload):
    """'draw' or 'upload': whichever changed most recently, so the verdict follows what the student just did."""
    now = {"draw": hashlib.sha1(canvas.image_bytes or b"").hexdigest(), "upload": upload.file_id if upload else None}
    seen = st.session_state.setdefault("seen_inputs", dict(now))
    changed = [k for k in now if now[k] != seen.get(k)]
    if changed:
        st.session_state.latest_input = "upload" if "upload" in changed and upload else "draw"
    st.session_state.seen_inputs = now
    return st.session_state.get("latest_input", "upload" if upload else "draw")


def prepared_input(source, canvas, upload):
    """(what to show as the original, the 28x28 image the model sees); ImageError for anything unusable."""
    if source == "upload":
        return prepare_upload(upload.getvalue())
    if canvas.image_data is None:
        raise ImageError(CANVAS_EMPTY)
    return None, prepare_drawing(canvas.image_data)


def verdict_ui(verdict, original, image, digits, whose):
    """The verdict, the baseline's, what the model saw and each pixel's push."""
    st.markdown(f"### The model says **{verdict.digit}** ({verdict.confidence:.1%} sure)")
    st.markdown(f"The mean-image baseline says **{verdict.baseline_digit}**. Using {whose}.")
    cols = st.columns(3 if original is not None else 2)
    if original is not None:
        cols[0].image(original, caption="your image", width="stretch")
    cols[-2].plotly_chart(digit_figure(image), key="seen", **CHART)
    towards = digits if digits != ALL_DIGITS else (verdict.digit, "others")  # ten: for the chosen digit, or against
    cols[-1].plotly_chart(weight_map_figure(verdict.contributions, towards, "Which pixels pushed where",
                                            scale_title="weight × pixel"), key="contributions", **CHART)
    score = (f"Score = pixels' contributions (**{verdict.contributions.sum():+.2f}**) + bias "
             f"(**{verdict.bias:+.2f}**) = **{verdict.score:+.2f}**.")
    if digits == ALL_DIGITS:
        st.markdown(f"{score} That is the score for **{verdict.digit}**; softmax turns the ten digits' scores into "
                    f"the probabilities below. Blue strokes pushed towards {verdict.digit}, red against it.")
        st.plotly_chart(probabilities_figure(verdict.probabilities), key="probabilities", **CHART)
    else:
        first, second = digits
        st.markdown(f"{score} A score above 0 means {first}: sigmoid(score) = {verdict.probabilities[first]:.3f} "
                    f"is the model's probability of {text.article(first)} {first}. Blue strokes pushed towards "
                    f"{first}, red towards {second}.")
