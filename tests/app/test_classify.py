"""Classifying one digit on the page: an upload or a drawing gets the verdict, a bad file gets a message."""
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tools.apptest import player


def png(array28):
    buf = io.BytesIO()
    Image.fromarray((np.asarray(array28) * 255).round().astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def verdict_text(at):
    return " ".join(m.value for m in at.markdown if "says" in m.value)


def test_uploading_a_digit_shows_the_verdict(at, data):
    at.file_uploader(key="upload").upload("three.png", png(data.valid_x[0].view(28, 28)), "image/png").run()
    assert not at.exception
    assert "The model says **3**" in verdict_text(at) and "baseline says **3**" in verdict_text(at)
    assert "a default model trained by the page" in verdict_text(at)
    titles = {json.loads(c.proto.spec)["layout"].get("title", {}).get("text") for c in at.get("plotly_chart")}
    assert {"What the model sees", "Which pixels pushed where"} <= titles


def canvas_state(rgba):
    """What streamlit-drawable-canvas sends back: the drawing as a PNG data URL."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}


def test_a_drawing_gets_a_verdict_from_the_model_just_trained(at):
    at.slider(key="epochs").set_value(10)
    at.button(key="train").click().run()
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = 255
    im = Image.fromarray(rgba, "RGBA")
    ImageDraw.Draw(im).line([(70, 60), (210, 60), (120, 240)], fill=(255, 255, 255, 255), width=22)  # a 7
    at.session_state["canvas"] = canvas_state(np.asarray(im))
    at.run()
    assert not at.exception
    assert "The model says **7**" in verdict_text(at) and "the model you trained (run 1, 10 epochs)" in verdict_text(at)


def test_an_empty_canvas_asks_for_a_drawing(at):
    assert any("Draw a digit first" in i.value for i in at.info)


@pytest.mark.parametrize("name, content, words", [
    ("notes.png", b"this is not an image at all", "not an image we can read"),
    ("cut.png", None, "damaged or incomplete"),
    ("blank.png", "blank", "No digit found"),
])
def test_bad_upload_shows_a_message_and_keeps_the_charts(at, name, content, words, data):
    at.slider(key="epochs").set_value(3)
    at.button(key="train").click().run()
    if content is None:
        content = png(data.valid_x[0].view(28, 28))[:60]
    elif content == "blank":
        content = png(np.zeros((28, 28)))
    at.file_uploader(key="upload").upload(name, content, "image/png").run()
    assert not at.exception
    assert any(words in e.value for e in at.error)
    meta, arrays = player(at)  # the run's curves are still on the page
    assert meta["count"] == 3 and len(arrays["valid_acc"]) == 3 and len(at.session_state.run.records) == 3
