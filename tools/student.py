"""A simulated student: a minimal Streamlit client that speaks the browser's websocket protocol.

    student = Student("http://127.0.0.1:8501", query="seed=3&epochs=30")
    await student.connect()            # like opening the link: one script run, drawn
    await student.click("train")       # like pressing Train
    await student.wait_until_finished(60)
    student.chart("Accuracy")          # the curves the player animates, as a Plotly-like spec
    await student.close()

It does what the browser does, with Streamlit's own protobufs and nothing else:

- GETs the page and `/_stcore/health`, which sets the `_streamlit_xsrf` cookie (XSRF protection is on in
  `.streamlit/config.toml`);
- opens `ws://HOST:PORT/_stcore/stream` with the same-origin `Origin` header, the cookie, and the
  `Sec-WebSocket-Protocol` entries the browser sends: `streamlit`, then the XSRF token (the cookie's
  value). Streamlit 1.67 accepts the socket without them too (the token only gates reading the login
  cookie), but a student looks like a browser;
- sends `BackMsg.rerun_script` (a `ClientState`: the link's query string, the page's script hash, the
  widget states) for a page load and for each click;
- uploads a file as the browser's uploader does (`upload`): a `file_urls_request` over the socket, a
  multipart PUT to the URL the server answers with (the XSRF token in `X-Xsrftoken`), then a rerun with the
  uploader's new state;
- reads `ForwardMsg`s: `new_session` starts a script run, `delta`s add or replace the element at their
  `metadata.delta_path`, `script_finished` ends the run. As the browser does, elements that a finished
  run did not send again are dropped. It never declares cached messages, so the server sends every
  message in full (no `ref_hash`).

A click sends only the button's trigger. That is enough: Streamlit keeps every widget value it was not
sent from the session's own state (the page's settings come from the link, via `st.session_state`, at
the session's first run), which tests/system/test_student_client.py checks by training with a link's seed.

Timing, for the load benchmark: `clicked_at` (the click's BackMsg sent), `last_delta_at` (the newest
delta), `finished_at` (the click's `script_finished`) and `redraws`, one (time, title, points) per
chart delta received since the click (each player update counts once for each chart it draws): how often the
page got more of the run while training.
"""
from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.request
import uuid
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from digitviz.player import decode
from digitviz.text import plain_markdown

XSRF_COOKIE = "_streamlit_xsrf"
FINISHED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
            ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
TEXT_ELEMENTS = ("markdown", "alert", "heading", "text", "exception")


class StudentError(RuntimeError):
    """The server closed the socket, or a run did not finish in time."""


def http_get(url, headers=None, timeout=10):
    """(status, headers, body) of a plain GET; blocking, so the async code runs it in a thread."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return r.status, r.headers, r.read()


def http_put_file(url, name, content, headers, timeout=30):
    """PUT one file as the browser's uploader does (a multipart form with one `file` field); the status."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="PUT", headers={
        **headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return r.status


def plotly_title(spec):
    title = (spec.get("layout") or {}).get("title")
    return (title.get("text") if isinstance(title, dict) else title) or ""


def plotly_values(values):
    """A Plotly array as a list: plain JSON lists, or Plotly 6+'s typed arrays ({"dtype", "bdata"})."""
    if isinstance(values, dict) and "bdata" in values:
        import numpy as np
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values or [])


def player_charts(element):
    """The charts a digitviz player element draws, as Plotly-like specs ({"layout": {"title"}, "data": [traces]}),
    from the records in its payload: what the browser animates up to, once it has played them all. No charts before a
    run: the frame the first Train fills has axes but no curves."""
    meta, arrays = decode(element.bidi_component.bytes)
    if not meta["count"]:
        return []
    epochs = arrays["epoch"].tolist()
    return [{"layout": {"title": {"text": chart["title"]}},
             "data": [{"name": name, "x": epochs, "y": arrays[field].tolist()} for name, field, *_ in chart["series"]]}
            for chart in meta["charts"]]


def is_player(element):
    return element.WhichOneof("type") == "bidi_component" and element.bidi_component.component_name == "digitviz.player"


def trace(spec, name):
    """The trace called `name` in a Plotly spec, as {"x": [...], "y": [...]}, or None."""
    for t in spec.get("data", []):
        if t.get("name") == name:
            return {"x": plotly_values(t.get("x")), "y": plotly_values(t.get("y"))}
    return None


class Student:
    """One browser tab on the page: one websocket, one Streamlit session."""

    def __init__(self, url, query="", name=None):
        parts = urlsplit(url)
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.ws_url = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}/_stcore/stream"
        self.query = query.lstrip("?")
        self.name = name or self.query or "student"
        self.ws = None
        self.elements = {}  # delta path (tuple) -> Element proto: what the page shows now
        self.blocks = {}  # delta path -> Block proto
        self.fragment_of = {}  # delta path -> the id of the fragment that drew it ("" for the page's own run)
        self.updated_at = {}  # delta path -> perf_counter() of the delta that put its element there
        self.page_script_hash = ""
        self.session_id = None  # the server's id for this session, which upload URLs carry
        self.xsrf_token = None
        self.script_run_id = None
        self.runs_finished = 0
        self.exceptions_seen = []  # every exception element any run sent, kept even after it is dropped
        self.bytes_received = self.messages_received = self.largest_message = 0
        self.clicked_at = self.last_delta_at = self.finished_at = self.connected_at = None
        self.redraws = []  # (perf_counter, chart title, points in its first trace) since the last click
        self.closed_with = None  # the close code and reason, once the server closed the socket
        self._touched = set()  # paths the current run has sent
        self._run_fragments = set()  # the fragments the current run reruns (empty: the whole page)
        self._awaiting = 0  # bumped by every rerun request; a run started after it sets _finished
        self._run_awaits = None  # the _awaiting value when the current run started
        self._done_awaits = None  # the _awaiting value when the last awaited run finished
        self._finished = asyncio.Event()
        self._file_urls = {}  # request id -> the FileURLsResponse the server sent for it
        self.auto_reruns = {}  # fragment id -> seconds: the page's `st.fragment(run_every=...)`, as the browser keeps
        self._reader = None

    # ------------------------------------------------------------------ connecting

    async def connect(self, timeout=120):
        """Load the page as a browser does, then wait for its first script run to be drawn."""
        loop = asyncio.get_running_loop()
        page = f"{self.url}/" + (f"?{self.query}" if self.query else "")
        await loop.run_in_executor(None, http_get, page)
        _, headers, body = await loop.run_in_executor(None, http_get, f"{self.url}/_stcore/health")
        if body.strip() != b"ok":
            raise StudentError(f"{self.name}: the server is not healthy: {body[:100]!r}")
        token = None
        for header in headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == XSRF_COOKIE:
                token = rest.split(";", 1)[0]
        extra, protocols = {}, ["streamlit"]
        self.xsrf_token = token
        if token:  # XSRF protection on: the browser echoes the cookie's token as the second subprotocol
            extra["Cookie"] = f"{XSRF_COOKIE}={token}"
            protocols.append(token)
        # No pings of its own, as a browser: the server pings, and this answers. With the library's default (a ping
        # every 20 s, the socket dropped when the pong is 20 s late) 92 of a class of 300 hung up on the busy server
        # with close code 1006, where a browser waits; without it all 300 finished (bench_load, 2026-12-04).
        self.ws = await websockets.connect(self.ws_url, subprotocols=protocols, additional_headers=extra,
                                           origin=self.url, max_size=None, open_timeout=timeout,
                                           compression=None, ping_interval=None)
        self.connected_at = time.perf_counter()
        self._reader = asyncio.create_task(self._read(), name=f"student-{self.name}")
        await self.rerun()
        await self.wait_until_finished(timeout)
        return self

    async def close(self):
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        if self.ws is not None:
            await self.ws.close()

    async def __aenter__(self):
        return await self.connect()

    async def __aexit__(self, *exc):
        await self.close()

    # ------------------------------------------------------------------ talking to the server

    async def rerun(self, widget_states=(), fragment_id=""):
        """Send a rerun_script BackMsg, as the browser does on load and on any widget change (or, with a fragment
        id, as its timer does for a fragment that reruns every few seconds). A change to a widget that a fragment
        drew reruns that fragment alone, as in the browser."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_script_hash
        state.widget_states.widgets.extend(widget_states)
        if fragment_id:
            state.fragment_id, state.is_auto_rerun = fragment_id, True
        elif widget_states:
            state.fragment_id = self._widget_fragment(widget_states[-1].id)
        self._awaiting += 1
        self._finished.clear()
        await self.ws.send(msg.SerializeToString())

    async def poll(self, timeout=60):
        """What the browser's timers do every few seconds: rerun each `run_every` fragment the page has, one by
        one (a fragment may rerun the whole page, as a round's does when the teacher moves on)."""
        for fragment_id in list(self.auto_reruns):
            await self.rerun(fragment_id=fragment_id)
            await self.wait_until_finished(timeout)

    async def vote(self, code, stage, option_label, name=""):
        """In a class round's page, choose an option (a radio's value is its label as shown, escaped Markdown),
        type a name, press Vote: one rerun, as a browser sends a click after the choices. The page then says
        "Vote counted.", or why not."""
        radio, typed = self.widget(f"option-{code}-{stage}"), self.widget(f"round-name-{code}")
        button = self.button(f"vote-{code}-{stage}")
        if radio is None or button is None:
            raise StudentError(f"{self.name}: no vote for stage {stage!r} on the page")
        await self.rerun([WidgetState(id=radio.id, string_value=plain_markdown(option_label)),
                          WidgetState(id=typed.id, string_value=name), WidgetState(id=button.id, trigger_value=True)])
        await self.wait_until_finished(60)

    async def click(self, key):
        """Press the button whose key is `key` (or whose label is `key`): a rerun with its trigger set."""
        button = self.button(key)
        if button is None:
            raise StudentError(f"{self.name}: no button {key!r} on the page")
        self.redraws = []
        self.finished_at = None
        self.clicked_at = time.perf_counter()
        await self.rerun([WidgetState(id=button.id, trigger_value=True)])

    async def upload(self, key, name, content, timeout=30):
        """Choose the file `name` holding `content` in the uploader `key`, as the browser does: ask the server for
        an upload URL over the websocket, PUT the file there, then rerun with the uploader's new state."""
        uploader = self.widget(key)
        if uploader is None:
            raise StudentError(f"{self.name}: no uploader {key!r} on the page")
        msg = BackMsg()
        request_id = msg.file_urls_request.request_id = uuid.uuid4().hex
        msg.file_urls_request.session_id = self.session_id
        msg.file_urls_request.file_names.append(name)
        await self.ws.send(msg.SerializeToString())
        deadline = time.monotonic() + timeout
        while request_id not in self._file_urls:
            if time.monotonic() > deadline:
                raise StudentError(f"{self.name}: no upload URL within {timeout} s")
            await asyncio.sleep(0.02)
        urls = self._file_urls.pop(request_id).file_urls[0]
        headers = {"Origin": self.url}
        if self.xsrf_token:
            headers.update({"X-Xsrftoken": self.xsrf_token, "Cookie": f"{XSRF_COOKIE}={self.xsrf_token}"})
        await asyncio.get_running_loop().run_in_executor(
            None, http_put_file, f"{self.url}{urls.upload_url}", name, content, headers)
        state = WidgetState(id=uploader.id)
        state.file_uploader_state_value.uploaded_file_info.append(
            UploadedFileInfo(name=name, size=len(content), file_id=urls.file_id, file_urls=urls))
        await self.rerun([state])

    async def remember(self, saved, key="memory", state=None):
        """Hand the page what the browser's localStorage remembered (`runs.saved`'s JSON, or anything a crafted
        client sends), as the memory component does once the page asks for it: a rerun with its new state
        (`state`: the component's whole state as JSON text, for a crafted client)."""
        component = self.widget(key)
        if component is None:
            raise StudentError(f"{self.name}: no component {key!r} on the page")
        self.redraws = []
        self.finished_at = None
        self.clicked_at = time.perf_counter()
        await self.rerun([WidgetState(id=component.id, json_value=state or json.dumps({"saved": saved}))])

    async def wait_until_finished(self, timeout=60):
        """Wait for the script run that the last rerun (load or click) started to finish."""
        try:
            await asyncio.wait_for(self._finished.wait(), timeout)
        except asyncio.TimeoutError:
            raise StudentError(f"{self.name}: the run did not finish within {timeout} s") from None
        if self._done_awaits != self._awaiting:  # woken by the socket closing, not by the run's end
            raise StudentError(f"{self.name}: the server closed the socket: {self.closed_with}")
        return self

    async def _read(self):
        try:
            async for data in self.ws:
                self._handle(data)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed_with = (self.ws.close_code, self.ws.close_reason)
            self._finished.set()  # wake any waiter; wait_until_finished tells a close from a finish

    def _handle(self, data):
        now = time.perf_counter()
        self.messages_received += 1
        self.bytes_received += len(data)
        self.largest_message = max(self.largest_message, len(data))
        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_script_hash = msg.new_session.page_script_hash
            self.session_id = msg.new_session.initialize.session_id or self.session_id
            self.script_run_id = msg.metadata.run.script_run_id
            self._run_awaits = self._awaiting
            self._touched = set()
            self._run_fragments = set(msg.metadata.run.fragment_ids)
            if not msg.metadata.run.fragment_ids:  # as the browser does: a full run drops every fragment's timer,
                self.auto_reruns.clear()  # and the fragments it calls set theirs again
        elif kind == "file_urls_response":
            self._file_urls[msg.file_urls_response.response_id] = msg.file_urls_response
        elif kind == "auto_rerun":
            self.auto_reruns[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self.auto_reruns.pop(fragment_id, None)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string  # the address bar, as the page rewrote it
        elif kind == "delta":
            self._delta(tuple(msg.metadata.delta_path), msg.delta, now)
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                self._drop_stale()
            elif msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self._drop_stale(self._run_fragments)
            if msg.script_finished in FINISHED:
                self.runs_finished += 1
                if self._run_awaits == self._awaiting:
                    self.finished_at = now
                    self._done_awaits = self._awaiting
                    self._finished.set()

    def _delta(self, path, delta, now):
        which = delta.WhichOneof("type")
        if which == "new_element":
            element = delta.new_element
            self._drop_below(path)
            self.blocks.pop(path, None)
            self.elements[path] = element
            self.fragment_of[path] = delta.fragment_id
            self.updated_at[path] = self.last_delta_at = now
            self._touched.add(path)
            if element.WhichOneof("type") == "exception":
                self.exceptions_seen.append(element.exception)
            if element.WhichOneof("type") == "plotly_chart" and self.clicked_at is not None:
                spec = json.loads(element.plotly_chart.spec)
                first = spec.get("data") or [{}]
                self.redraws.append((now, plotly_title(spec), len(plotly_values(first[0].get("x")))))
            if is_player(element) and self.clicked_at is not None:
                for spec in player_charts(element):
                    self.redraws.append((now, plotly_title(spec), len(spec["data"][0]["x"])))
        elif which == "add_block":
            self.elements.pop(path, None)
            self.blocks[path] = delta.add_block
            self.fragment_of[path] = delta.fragment_id
            self.updated_at[path] = self.last_delta_at = now
            self._touched.add(path)
        # new_transient (spinners, toasts) changes nothing that stays on the page

    def _drop_below(self, path):
        n = len(path)
        for table in (self.elements, self.blocks):
            for p in [p for p in table if len(p) > n and p[:n] == path]:
                del table[p]
                self.updated_at.pop(p, None)
                self.fragment_of.pop(p, None)

    def _drop_stale(self, fragments=None):
        """What the browser does at the end of a run: forget what this run did not send (of a fragment's run, what
        those fragments drew before and did not draw again)."""
        keep = self._touched
        for table in (self.elements, self.blocks):
            stale = [p for p in table if p not in keep]
            for p in [p for p in stale if fragments is None or self.fragment_of.get(p) in fragments]:
                del table[p]
                self.updated_at.pop(p, None)
                self.fragment_of.pop(p, None)

    def widget_path(self, widget_id):
        """Where on the page the widget with this id sits (its delta path), or None."""
        return next((path for path, element in self.elements.items()
                     if getattr(getattr(element, element.WhichOneof("type")), "id", None) == widget_id), None)

    def _widget_fragment(self, widget_id):
        """The fragment that drew the widget (its changes rerun that fragment alone), or "" for the page's run."""
        return self.fragment_of.get(self.widget_path(widget_id), "")

    # ------------------------------------------------------------------ what the page shows

    def _ordered(self):
        return [self.elements[p] for p in sorted(self.elements)]

    def widgets(self):
        """{widget id: element proto} for every widget on the page."""
        out = {}
        for element in self._ordered():
            inner = getattr(element, element.WhichOneof("type"))
            if getattr(inner, "id", ""):
                out[inner.id] = inner
        return out

    def widget(self, key):
        """The widget whose key is `key` (its id ends with '-key'), else the first one labelled `key`."""
        widgets = self.widgets()
        for wid, inner in widgets.items():
            if wid.endswith(f"-{key}"):
                return inner
        for inner in widgets.values():
            if getattr(inner, "label", None) == key:
                return inner
        return None

    def button(self, key):
        for element in self._ordered():
            if element.WhichOneof("type") == "button":
                b = element.button
                if b.id.endswith(f"-{key}") or b.label == key:
                    return b
        return None

    def _specs(self):
        """(delta path, spec) of every chart on the page: Plotly's, and the player's as Plotly-like specs."""
        for path in sorted(self.elements):
            element = self.elements[path]
            if element.WhichOneof("type") == "plotly_chart":
                yield path, json.loads(element.plotly_chart.spec)
            elif is_player(element):
                for spec in player_charts(element):
                    yield path, spec

    def charts(self):
        """Every chart on the page, as the spec (a dict) the browser would draw."""
        return [spec for _, spec in self._specs()]

    def chart(self, title, with_time=False):
        """The chart (Plotly's, or one the player draws) whose title is `title`, or None; with_time:
        (perf_counter() when it arrived, spec), or (None, None)."""
        for path, spec in self._specs():
            if plotly_title(spec) == title:
                return (self.updated_at[path], spec) if with_time else spec
        return (None, None) if with_time else None

    def texts(self, with_times=False):
        """The bodies of every markdown, alert, heading, text and exception element, in page order;
        with_times: (perf_counter() when it arrived, body) pairs."""
        out = []
        for path in sorted(self.elements):
            element = self.elements[path]
            kind = element.WhichOneof("type")
            if kind in TEXT_ELEMENTS:
                inner = getattr(element, kind)
                body = getattr(inner, "body", "") or getattr(inner, "message", "")
                out.append((self.updated_at[path], body) if with_times else body)
        return out

    def exceptions(self):
        """Exceptions the page shows now (with showErrorDetails = "none", only their type and a message)."""
        return [e.exception for e in self._ordered() if e.WhichOneof("type") == "exception"]

    # ------------------------------------------------------------------ timing

    def redraw_rate(self, title="Accuracy"):
        """Redraws of the chart `title` per second between the click and the run's end; None without 2."""
        times = [t for t, name, _ in self.redraws if name == title]
        if len(times) < 2 or self.finished_at is None:
            return None
        return len(times) / (times[-1] - self.clicked_at)


def run_async(coro):
    """asyncio.run, on a thread of its own: works even where an event loop is already running (Playwright's
    sync API leaves one in pytest's main thread)."""
    out = {}

    def work():
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as e:  # handed back to the caller's thread as it is
            out["error"] = e

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    if "error" in out:
        raise out["error"]
    return out["value"]
