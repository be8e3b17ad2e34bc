"""The checks that several servers behind nginx work as one site, each a function of the proxy's base URL (and
of the class board's database URL where the check reads it), so they run against any such layout: the
one tools/stack.py starts on loopback (tests/system/test_replicas.py) or compose.yaml's.

Simulated students (tools/student.py's, each with a cookie jar of its own, as a browser has) go through
nginx, and the checks assert:

- affinity: every request of one student (the page, a static file, /_stcore/health, the websocket upgrade
  to /_stcore/stream, an upload to /_stcore/upload_file/<session>/...) reaches one replica, as nginx's
  X-Digitviz-Replica response header says; an upload routed to another replica is refused there, which
  is why the affinity is needed; XSRF and the upload limit still hold behind nginx;
- spread: new students (no cookie) land on every replica;
- the class board is shared: a student on one replica trains and posts, a student on another replica
  sees the post in the board's table, and it is in the database;
- the teacher's passphrase from the environment: refused when wrong, and the right one, typed on another
  replica, clears the shared board.

Replicas are named as the X-Digitviz-Replica header names them ("host:port" of the upstream).
"""
from __future__ import annotations

import asyncio
import http.cookiejar
import os
import re
import secrets
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

import websockets
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from tools.student import XSRF_COOKIE, Student, StudentError, run_async

ROUTE_COOKIE = "digitviz_route"
REPLICA_HEADER = "X-Digitviz-Replica"
UPLOAD_LIMIT = 10 * 1024 * 1024  # server.maxUploadSize in .streamlit/config.toml, in bytes
QUERY = "epochs=2&panel=board"  # the class board alone, as projected (a student leaves it for a short run)
MAX_STUDENTS = 30  # check_spread keeps adding new students until every replica served one, at most this many
EXPECTED_STATUSES = {"page": 200, "static": 200, "health": 200, "websocket": 101, "upload": 204}


def request(url, headers=None, method="GET", data=None, opener=None, timeout=30):
    """(status, headers, body) of one request; HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class RoutedStudent(Student):
    """A Student with a browser's cookie jar, so nginx's route cookie (and the XSRF cookie) come back on
    every request, as they do from a browser. `route` starts it with a given route cookie (to put it on a
    chosen replica); `seen` lists (what, status, replica, route cookie set by the response) for each response."""

    def __init__(self, url, query="", name=None, route=None):
        super().__init__(url, query=query, name=name)
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.seen = []
        self.session_id = None
        self.asset = None
        self.ws_status = None
        if route:
            self.jar.set_cookie(_cookie(ROUTE_COOKIE, route, urlsplit_host(url)))

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def _note(self, what, status, headers):
        routes = [m.group(1) for h in (headers.get_all("Set-Cookie") or [])
                  if (m := re.match(rf"\s*{ROUTE_COOKIE}=([^;]*)", h))]
        self.seen.append((what, status, headers.get(REPLICA_HEADER), routes[0] if routes else None))

    def get(self, path, what):
        status, headers, body = request(f"{self.url}{path}", opener=self.opener)
        self._note(what, status, headers)
        return status, body

    async def connect(self, timeout=120):
        """As Student.connect, with the cookie jar: the page, one of its static files, the health check,
        the websocket; then the first script run."""
        loop = asyncio.get_running_loop()
        _, body = await loop.run_in_executor(None, self.get, "/" + (f"?{self.query}" if self.query else ""), "page")
        assets = re.findall(rb'src="\.?/?(static/[^"]+\.js)"', body)
        if assets:
            self.asset = "/" + assets[0].decode()
            await loop.run_in_executor(None, self.get, self.asset, "static")
        _, body = await loop.run_in_executor(None, self.get, "/_stcore/health", "health")
        if body.strip() != b"ok":
            raise StudentError(f"{self.name}: the server is not healthy: {body[:100]!r}")
        token = self.cookie(XSRF_COOKIE)
        protocols = ["streamlit"] + ([token] if token else [])
        self.ws = await websockets.connect(self.ws_url, subprotocols=protocols,
                                           additional_headers={"Cookie": self.cookie_header()}, origin=self.url,
                                           max_size=None, open_timeout=timeout, compression=None)
        self.ws_status = self.ws.response.status_code
        self._note("websocket", self.ws_status, self.ws.response.headers)
        self.connected_at = time.perf_counter()
        self._reader = asyncio.create_task(self._read(), name=f"student-{self.name}")
        await self.rerun()
        await self.wait_until_finished(timeout)
        return self

    def _handle(self, data):
        super()._handle(data)
        if self.session_id is None:
            msg = ForwardMsg()
            msg.ParseFromString(data)
            if msg.WhichOneof("type") == "new_session":
                self.session_id = msg.new_session.initialize.session_id

    def upload(self, size, cookie=None, what="upload", xsrf=True):
        """PUT a file of `size` bytes to this session's upload endpoint, as st.file_uploader does:
        (status, replica, body). `cookie` replaces the jar's cookies (to send it elsewhere); `xsrf=False`
        leaves out the X-Xsrftoken header that the browser copies from the XSRF cookie."""
        boundary = uuid.uuid4().hex
        data = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="digit.png"\r\n'
                f"Content-Type: image/png\r\n\r\n").encode() + os.urandom(size) + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": self.url}
        if xsrf:
            headers["X-Xsrftoken"] = self.cookie(XSRF_COOKIE) or ""
        url = f"{self.url}/_stcore/upload_file/{self.session_id}/{uuid.uuid4().hex}"
        if cookie is not None:
            status, headers_back, body = request(url, {**headers, "Cookie": cookie}, "PUT", data)
        else:
            status, headers_back, body = request(url, headers, "PUT", data, opener=self.opener)
            self._note(what, status, headers_back)
        return status, headers_back.get(REPLICA_HEADER), body

    def replicas(self):
        return {replica for _, _, replica, _ in self.seen}

    def tables(self):
        """Every st.dataframe and st.table on the page (the projected board's are tables), as a list of row dicts
        each."""
        import pyarrow as pa
        out = []
        for path in sorted(self.elements):
            element = self.elements[path]
            kind = element.WhichOneof("type")
            if kind in ("dataframe", "table") and getattr(element, kind).arrow_data.data:
                out.append(pa.ipc.open_stream(getattr(element, kind).arrow_data.data).read_all().to_pylist())
        return out

    def board_names(self):
        return {row.get("name") for table in self.tables() for row in table if "name" in row}

    async def submit(self, values, button):
        """Type `values` ({widget key: text}) and press `button`, in one rerun, as a browser sends them."""
        states = []
        for key, text in values.items():
            widget = self.widget(key)
            if widget is None:
                raise StudentError(f"{self.name}: no widget {key!r} on the page")
            states.append(WidgetState(id=widget.id, string_value=text))
        pressed = self.button(button)
        if pressed is None:
            raise StudentError(f"{self.name}: no button {button!r} on the page")
        states.append(WidgetState(id=pressed.id, trigger_value=True))
        await self.rerun(states)
        await self.wait_until_finished(60)


def urlsplit_host(url):
    return url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


def _cookie(name, value, host):
    return http.cookiejar.Cookie(0, name, value, None, False, host, False, False, "/", True, False, None, False,
                                 None, None, {})


def routes_by_replica(url, count, tries=200):
    """{replica addr: a route cookie value that nginx sends there}, by asking nginx with random routes, until
    `count` replicas are found; only routes that nginx keeps (sends back as they were) count."""
    found = {}
    for _ in range(tries):
        route = secrets.token_hex(16)
        _, headers, _ = request(f"{url}/_stcore/health", {"Cookie": f"{ROUTE_COOKIE}={route}"})
        echoed = [h for h in headers.get_all("Set-Cookie") or [] if h.startswith(f"{ROUTE_COOKIE}={route};")]
        if echoed:
            found.setdefault(headers.get(REPLICA_HEADER), route)
        if len(found) == count:
            break
    return found


async def visit(url, n, at_the_limit=False):
    """One new student (no cookies): load the page through nginx, upload a small file (and, if asked, one of
    exactly server.maxUploadSize), leave. Uploads need the session open: the replica drops it on disconnect."""
    student = RoutedStudent(url, query=QUERY, name=f"student {n}")
    loop = asyncio.get_running_loop()
    try:
        await student.connect(timeout=120)
        await loop.run_in_executor(None, student.upload, 64 * 1024)
        if at_the_limit:
            await loop.run_in_executor(None, lambda: student.upload(1024, what="upload without XSRF token",
                                                                    xsrf=False))
            # Streamlit counts the whole multipart body against the limit, not just the file.
            await loop.run_in_executor(None, student.upload, UPLOAD_LIMIT - 1024, None, "upload under the limit")
            await loop.run_in_executor(None, student.upload, UPLOAD_LIMIT, None, "upload over the limit")
    finally:
        await student.close()
    return student


def describe(student):
    replicas = sorted(r or "none" for r in student.replicas())
    route = student.cookie(ROUTE_COOKIE) or "none"
    steps = ", ".join(f"{what} {status}" for what, status, _, _ in student.seen)
    return f"{student.name}: {' + '.join(replicas)} for {steps} (route {route[:8]}...)"


async def named_host_websocket(url, host="lecture.example"):
    """The websocket upgrade as a browser on http://HOST:PORT/ sends it (Origin and Host with the port):
    Streamlit refuses an Origin that matches neither Host nor its own addresses, so nginx must pass the
    Host header with its port ($http_host; $host drops it). Returns (status, replica)."""
    parts = urlsplit(url)
    port = parts.port or 80
    try:
        ws = await websockets.connect(f"ws://{host}:{port}/_stcore/stream", host=parts.hostname, port=port,
                                      origin=f"http://{host}:{port}", subprotocols=["streamlit"], open_timeout=30)
    except websockets.InvalidStatus as e:
        return e.response.status_code, e.response.headers.get(REPLICA_HEADER)
    status, replica = ws.response.status_code, ws.response.headers.get(REPLICA_HEADER)
    await ws.close()
    return status, replica


# ---------------------------------------------------------------------------------------------- the checks

def check_routes(url, replicas):
    """nginx keeps a route cookie it was sent, and some route reaches every replica: {replica: route}."""
    routes = routes_by_replica(url, len(replicas))
    assert set(routes) == set(replicas), f"routes that nginx kept reach {sorted(map(str, routes))}, not {replicas}"
    return routes


def check_named_host_websocket(url):
    """A browser on a named host (Origin http://lecture.example:PORT) gets its websocket from a replica."""
    status, replica = run_async(named_host_websocket(url))
    assert (status, bool(replica)) == (101, True), f"{status} from {replica or 'nginx'}"


def new_students(url, count, first=1):
    """`count` new students (no cookies) who each load the page through nginx, upload a file and leave; the
    one numbered 1 also tries the upload limits. Returns them, with what each response said in `seen`."""
    async def visits():
        return await asyncio.gather(*(visit(url, n, at_the_limit=n == 1) for n in range(first, first + count)))
    return run_async(visits())


def check_affinity(students):
    """Every student stayed on one replica for the page, a static file, the health check, the websocket and
    an upload, with the route cookie from its first response."""
    assert students
    for student in students:
        statuses = {what: status for what, status, _, _ in student.seen}
        assert {what: statuses.get(what) for what in EXPECTED_STATUSES} == EXPECTED_STATUSES, describe(student)
        assert len(student.replicas()) == 1 and None not in student.replicas(), describe(student)
        assert "," not in next(iter(student.replicas())), f"nginx retried on another replica: {describe(student)}"
        first_route = student.seen[0][3]
        assert first_route and {route for *_, route in student.seen} == {first_route}, describe(student)


def check_upload_elsewhere_is_refused(students, routes):
    """Why the affinity is needed: a session's upload, routed to another replica, is refused there."""
    student = next((s for s in students if s.session_id), None)
    assert student is not None, "no student learnt its session id"
    own = next(iter(student.replicas()))
    elsewhere = next(r for r in routes if r != own)
    cookie = f"{XSRF_COOKIE}={student.cookie(XSRF_COOKIE)}; {ROUTE_COOKIE}={routes[elsewhere]}"
    status, replica, body = student.upload(1024, cookie=cookie)
    assert (status, replica) == (400, elsewhere) and b"sticky" in body, f"{status} from {replica}: {body[:90]!r}"


def uploads(students, what):
    """(status, whether a replica answered) of each upload called `what` that the students made."""
    return [(status, replica is not None) for s in students for w, status, replica, _ in s.seen if w == what]


def check_xsrf(students):
    """XSRF protection is on behind nginx: an upload without the X-Xsrftoken header is refused by the replica."""
    assert uploads(students, "upload without XSRF token") == [(403, True)]


def check_upload_limit(students):
    """nginx's client_max_body_size lets through what Streamlit's server.maxUploadSize (10 MB) allows: an upload
    under the limit gets 204 and one over it 413, both from the replica itself, not from nginx."""
    assert uploads(students, "upload under the limit") == [(204, True)]
    assert uploads(students, "upload over the limit") == [(413, True)]


def check_spread(url, replicas, students):
    """New students land on every replica: more of them come (up to MAX_STUDENTS) until each served one."""
    counts = {replica: 0 for replica in replicas}
    n = len(students)
    while True:
        for student in students:
            for replica in student.replicas():
                counts[replica] = counts.get(replica, 0) + 1
        if all(counts.values()) or n >= MAX_STUDENTS:
            break
        students = new_students(url, min(4, MAX_STUDENTS - n), first=n + 1)
        n += len(students)
    assert all(counts[r] for r in replicas), f"{counts} after {n} students"


async def post_a_run(url, route, name):
    """A student on the replica that `route` reaches trains a short run and posts it as `name`; the student,
    still connected."""
    poster = RoutedStudent(url, query=QUERY, name=f"poster {name}", route=route)
    await poster.connect()
    await poster.click("leave-board")  # the training page, with the board open below
    await poster.wait_until_finished(120)
    await poster.click("train")
    await poster.wait_until_finished(120)
    await poster.submit({"board_name": name}, "post")
    return poster


def check_board_is_shared(url, routes, board_url):
    """A run posted on one replica is in the database and shows in the board's table on another replica."""
    from digitviz.board import Board

    first, second = list(routes)[:2]
    name = f"replicas-{secrets.token_hex(4)}"

    async def scenario():
        looker = RoutedStudent(url, query=QUERY, name="looker", route=routes[second])
        poster = None
        try:
            await looker.connect()
            before = looker.board_names()
            poster = await post_a_run(url, routes[first], name)
            await looker.rerun()
            await looker.wait_until_finished(60)
            return poster, looker, before, looker.board_names()
        finally:
            for student in (poster, looker):
                if student is not None:
                    await student.close()

    poster, looker, before, after = run_async(scenario())
    assert (poster.replicas(), looker.replicas()) == ({first}, {second})
    assert "Posted: your run is on the board." in poster.texts(), poster.texts()
    board = Board(board_url)
    try:
        stored = [p for p in board.newest() if p.name == name]
    finally:
        board.engine.dispose()
    assert [p.epochs for p in stored] == [2], f"{len(stored)} post(s) named {name!r}"
    assert name not in before and name in after, f"before the post: {sorted(map(str, before))}; after: {after}"


def check_teacher_clears(url, routes, board_url, passphrase):
    """The teacher's passphrase, typed on another replica than a run was posted on: a wrong one is refused and
    the board kept; the right one clears the shared board, the other replica's post included."""
    from digitviz.board import Board

    first, second = list(routes)[:2]
    board = Board(board_url)

    async def scenario():
        teacher = RoutedStudent(url, query=QUERY, name="teacher", route=routes[second])
        poster = None
        try:
            poster = await post_a_run(url, routes[first], f"replicas-{secrets.token_hex(4)}")
            await teacher.connect()
            await teacher.submit({"board_passphrase": "not the passphrase"}, "clear-board")
            refused, kept = teacher.texts(), len(board.newest(limit=10**6))
            await teacher.submit({"board_passphrase": passphrase}, "clear-board")
            return teacher, refused, kept
        finally:
            for student in (poster, teacher):
                if student is not None:
                    await student.close()

    try:
        teacher, refused, kept = run_async(scenario())
        assert teacher.replicas() == {second}
        assert "Wrong passphrase: the board was not cleared." in refused and kept >= 1, refused
        cleared = [t for t in teacher.texts() if t.startswith("Cleared")]
        assert cleared == [f"Cleared {kept} posts."] and board.newest() == []
    finally:
        board.engine.dispose()
