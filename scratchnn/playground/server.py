"""The playground's web server: Starlette on uvicorn, a WebSocket per tab, training in a small thread pool.

Routes:

* ``/`` the training page, ``/digits`` the draw-a-digit page, ``/text`` the language-model page,
  ``/static/...`` their files;
* ``/ws`` a tab's session: JSON messages in (``configure``, ``play``, ``pause``,
  ``step``, ``reset``, ``columns``, ``ping``; ``text_configure`` turns the tab's
  session into a tiny GPT learning a text, ``playground.text``, and ``play``,
  ``step`` and ``reset`` then drive it), JSON messages out (``hello``, ``data``,
  ``update``, ``state``, ``error``, ``pong``; ``text_data``, ``text_update``);
* ``/api/meta`` the controls (``settings.meta``); ``/api/status`` sessions and running jobs;
* ``/api/session/{id}/upload`` (POST, the CSV file as the body), ``.../model.npz``, ``.../script.py``;
* ``/api/session/{id}/text`` (POST, a UTF-8 text as the body, at most ``MAX_TEXT_UPLOAD_BYTES``): the
  text the next ``text_configure`` with ``"corpus": "upload"`` learns;
* ``/api/digits/predict`` (POST JSON: a drawing) -> its 8x8 image and class probabilities.

Each tab's session lives as long as its socket: closing the tab stops its
training and frees it, and a session that is not training and has sent no
message for ``idle_timeout`` seconds is closed (the page says to reload). At
most ``max_sessions`` sessions exist at once (a tab beyond that is told to
retry); their training runs in a pool of ``workers`` threads, so extra
sessions wait their turn instead of taking more cores.

Requests are answered only when they come from this server's own pages, as
Jupyter checks them (``_OriginCheck``): a ``Host`` header that is not one of
the server's names (on a loopback address: ``127.0.0.1``, ``localhost``,
``::1``) is refused with 403, which stops DNS rebinding; and an ``Origin``
header (a browser sends one with every WebSocket and POST) must name the same
host and port as ``Host``, so another web page cannot open a session. Request
bodies are read a chunk at a time up to their limit (``MAX_UPLOAD_BYTES``,
``MAX_TEXT_UPLOAD_BYTES``, ``MAX_DRAWING_BYTES``) and refused past it. Every bad request gets a 4xx
answer with a one-line message, and a client that goes away mid-request
leaves no traceback in the log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import csv
import io
import json
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..data.csv_reader import check_header
from . import digits, text
from .session import IDLE_TIMEOUT, Session, Upload
from .settings import check_settings, meta

__all__ = [
    "MAX_DRAWING_BYTES",
    "MAX_TEXT_UPLOAD_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_ROWS",
    "Playground",
    "create_app",
]

STATIC = Path(__file__).with_name("static")
#: The pages: address -> (the file of its body in ``STATIC``, its title, its name in the menu, its script).
#: Each body is set in ``layout.html``, the head, menu and scripts every page shares (``page_html``).
PAGES = {
    "/": ("index.html", "scratchnn playground", "Train", "playground.js"),
    "/digits": ("digits.html", "scratchnn playground: draw a digit", "Draw a digit", "digits.js"),
    "/text": ("text.html", "scratchnn playground: learn a text", "Learn a text", "text.js"),
}
MAX_UPLOAD_BYTES = 4 << 20
"""The largest CSV file a tab may upload (4 MB): a longer body is answered 413 (see ``_read_body``)."""
MAX_UPLOAD_ROWS = 50_000
MAX_TEXT_UPLOAD_BYTES = 256 << 10
"""The largest text a tab may upload for its language model (256 KB): a longer body is answered 413."""
MAX_MESSAGE_CHARS = 64 << 10
"""The longest WebSocket message, in characters (64 KB): a longer one is answered with an error."""
MAX_DRAWING_BYTES = 64 << 10
"""The largest body of ``POST /api/digits/predict`` (64 KB, a 512x512 drawing is 44 KB): a longer body
is answered 413 after at most ``DRAIN_FACTOR`` times this many bytes are read (see ``_read_body``)."""
#: A body over its limit is read on (and dropped) up to this many times the limit, so that a client
#: that is still sending sees the 413 rather than a broken pipe; beyond, the server stops reading.
DRAIN_FACTOR = 16
MAX_DRAWING_SIDE = 512
#: Seconds of training between two updates while playing, and the shortest time between updates.
TRAIN_SLICE = 0.012
MIN_PERIOD = 1 / 40
#: The names a server bound to a loopback address answers to.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Settings that change only how the page draws, not the run.
DRAWING_ONLY = ("show_test",)


class Tab:
    """One browser tab: its socket, its session, and the task that plays it."""

    def __init__(self, app: Playground, websocket: WebSocket, sid: str) -> None:
        self.app, self.websocket, self.sid = app, websocket, sid
        self.session = Session(check_settings({}))
        self.text: text.TextSession | None = None  # the language model, once the tab asks for one
        self.text_upload: tuple[str, str] | None = None  # (text, description) of the uploaded text
        self.mode = "points"  # which of the two the play, step and reset messages drive
        self.lock = asyncio.Lock()  # one job at a time touches the session
        self.playing = False
        self.task: asyncio.Task | None = None

    async def send(self, message: dict) -> None:
        await self.websocket.send_text(json.dumps(message))

    async def job(self, fn, *args):
        """``fn(*args)`` in the training pool, one job of this tab at a time.

        A cancelled caller (pause, a closed tab) still waits for the thread to
        finish its slice before letting the lock go, so no two threads ever touch the session.
        """
        async with self.lock:
            future = asyncio.ensure_future(self.app.run_job(fn, *args))
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                await asyncio.wait([future])
                raise

    async def handle(self, msg) -> None:
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise ValueError('a message must be a JSON object with a "type"')
        kind = msg["type"]
        if kind == "configure":
            await self.configure(check_settings(msg.get("settings", {}), self.session.settings))
        elif kind == "columns":
            cols = [msg.get(k) for k in ("x1", "x2", "label")]
            if self.session.upload is None:
                raise ValueError("upload a CSV file before choosing its columns")
            if not all(isinstance(c, str) for c in cols):
                raise ValueError(f"columns need x1, x2 and label as column names, got {cols}")
            await self.pause()
            await self.job(self.session.upload.choose, *cols)
            await self.configure(check_settings({"dataset": "csv"}, self.session.settings), rebuild=True)
        elif kind == "text_configure":
            await self.text_configure(msg)
        elif kind == "play":
            if not self.playing and not self.runner().diverged:
                self.playing = True
                self.task = asyncio.create_task(self._play())
            await self.send({"type": "state", "playing": self.playing})
        elif kind == "pause":
            await self.pause()
        elif kind == "ping":  # answered after every message before it: lets a client wait for them
            await self.send({"type": "pong"})
        elif kind == "step":
            await self.pause()
            await self.send(await self.job(self._advance, 1, None))
        elif kind == "reset":
            await self.pause()
            if self.mode == "text":
                seed = check_settings({"seed": msg.get("seed", self.text.seed)}, self.session.settings)[
                    "seed"
                ]
                await self.job(self.text.reset, seed)
                await self.send(await self.job(self.text.update, []))
                return
            if "seed" in msg:
                self.session.settings = check_settings({"seed": msg["seed"]}, self.session.settings)
            await self.job(self.session.reset)
            await self.send(await self.job(self.session.update, []))
        else:
            raise ValueError(f"unknown message type {kind[:40]!r}")

    def runner(self):
        """The session the play, step and reset messages drive: the points' or the text's."""
        return self.text if self.mode == "text" else self.session

    async def text_configure(self, msg: dict) -> None:
        """A new tiny GPT on ``msg["corpus"]`` (a built-in text or ``"upload"``) from ``msg["seed"]``."""
        corpus = msg.get("corpus")
        if corpus == "upload":
            if self.text_upload is None:
                raise ValueError("upload a text file before choosing corpus 'upload'")
            source = lambda: self.text_upload  # noqa: E731
        elif isinstance(corpus, str) and corpus in text.CORPORA:
            source = text.CORPORA[corpus]
        else:
            names = [*text.CORPORA, "upload"]
            raise ValueError(f"corpus must be one of {names}, got {str(corpus)[:40]!r}")
        seed = check_settings({"seed": msg.get("seed", 0)}, self.session.settings)["seed"]
        await self.pause()

        def build() -> text.TextSession:
            return text.TextSession(corpus, *source(), seed=seed)

        self.text = await self.job(build)
        self.mode = "text"
        await self.send({**self.text.data_message(), "max_upload_bytes": MAX_TEXT_UPLOAD_BYTES})
        await self.send(await self.job(self.text.update, []))

    async def configure(self, settings: dict, rebuild: bool = False) -> None:
        """Rebuild the run for ``settings`` (unless only drawing settings changed) and send it to the tab."""
        old = self.session.settings
        if not rebuild and all(settings[k] == old[k] for k in settings if k not in DRAWING_ONLY):
            self.session.settings = settings  # nothing the run depends on changed: it goes on as it was
        else:
            await self.pause()
            await self.job(self.session.configure, settings)
        self.mode = "points"
        await self.send(self.session.data())
        await self.send(await self.job(self.session.update, []))

    def _advance(self, epochs, seconds) -> dict:
        runner = self.runner()
        return runner.update(runner.run(epochs, seconds))

    async def _play(self) -> None:
        try:
            while self.playing:
                started = time.perf_counter()
                update = await self.job(self._advance, None, TRAIN_SLICE)
                if not self.playing:
                    break
                await self.send(update)
                if self.runner().diverged:
                    self.playing = False
                    await self.send({"type": "state", "playing": False})
                await asyncio.sleep(max(0.0, MIN_PERIOD - (time.perf_counter() - started)))
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.playing = False  # the tab went away; close() cleans up

    async def pause(self, notify: bool = True) -> None:
        """Stop playing; ``notify=False`` when the socket may be gone."""
        self.playing = False
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if notify:
                await self.send({"type": "state", "playing": False})


class Playground:
    """The server's state: the tabs, the training pool and the digit model."""

    def __init__(
        self,
        max_sessions: int = 24,
        workers: int = 2,
        digit_model: str | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.tabs: dict[str, Tab] = {}
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scratchnn-train")
        self.jobs_running = 0
        self._jobs_lock = threading.Lock()
        self.digit_model = digits.DigitModel.from_file(digit_model) if digit_model else None

    async def run_job(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._counted, fn, *args)

    def _counted(self, fn, *args):
        with self._jobs_lock:
            self.jobs_running += 1
        try:
            return fn(*args)
        finally:
            with self._jobs_lock:
                self.jobs_running -= 1

    def digit_classifier(self) -> digits.DigitModel:
        return self.digit_model or digits.default_model()

    # -- the socket of a tab ---------------------------------------------------------
    async def websocket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if len(self.tabs) >= self.max_sessions:
            await websocket.send_text(json.dumps({
                "type": "error", "retry": True,
                "message": f"the server is busy ({self.max_sessions} sessions open); retry in a moment",
            }))  # fmt: skip
            await websocket.close(code=1013)
            return
        sid = secrets.token_urlsafe(12)
        tab = self.tabs[sid] = Tab(self, websocket, sid)
        try:
            await tab.send({"type": "hello", "session": sid, "settings": tab.session.settings})
            while True:
                try:
                    message = await asyncio.wait_for(websocket.receive(), self.idle_timeout)
                except TimeoutError:
                    if tab.playing:
                        continue  # a training session is not idle
                    seconds = f"{self.idle_timeout:g}"
                    await tab.send(
                        {"type": "error", "message": f"closed after {seconds} s idle; reload the page"}
                    )
                    await websocket.close(code=1001)
                    break
                if message["type"] == "websocket.disconnect":
                    break
                await self._dispatch(tab, message.get("text"))
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the tab closed mid-send
        finally:
            await tab.pause(notify=False)
            self.tabs.pop(sid, None)

    async def _dispatch(self, tab: Tab, text) -> None:
        try:
            if text is None:
                raise ValueError("messages must be JSON text, not binary")
            if len(text) > MAX_MESSAGE_CHARS:
                raise ValueError(
                    f"a message may hold at most {MAX_MESSAGE_CHARS} characters, got {len(text)}"
                )
            try:
                msg = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                raise ValueError(f"a message must be JSON, got {text[:40]!r}") from None
            await tab.handle(msg)
        except ValueError as exc:
            await tab.send({"type": "error", "message": str(exc)})
        except (WebSocketDisconnect, RuntimeError, OSError):
            raise
        except Exception as exc:  # a bug: the tab hears of it in one line, the server keeps serving
            print(f"playground: unexpected {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            await tab.send({"type": "error", "message": f"unexpected {type(exc).__name__} on the server"})

    # -- HTTP ------------------------------------------------------------------------------
    def tab_of(self, request: Request) -> Tab:
        tab = self.tabs.get(request.path_params["sid"])
        if tab is None:
            raise HTTPException(404, "no such session (it ends when its tab closes)")
        return tab

    async def upload(self, request: Request) -> Response:
        tab = self.tab_of(request)
        name = request.query_params.get("name", "upload.csv")[:100] or "upload.csv"
        body = await _read_body(
            request, MAX_UPLOAD_BYTES, f"{name} is larger than {MAX_UPLOAD_BYTES >> 20} MB"
        )
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise HTTPException(400, f"{name} is not a UTF-8 text file (byte {exc.start})") from None
        rows = text.count("\n")
        if rows > MAX_UPLOAD_ROWS:
            raise HTTPException(
                413, f"{name} has {rows} lines; the playground takes at most {MAX_UPLOAD_ROWS}"
            )
        try:  # the command line's rules for a header: each column named, none twice
            header = check_header(name, next(csv.reader(io.StringIO(text)), None))
        except csv.Error as exc:
            raise HTTPException(400, f"{name}: malformed CSV: {exc}") from None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        if len(header) < 3:
            raise HTTPException(
                400, f"{name} needs a header with at least 3 columns (x1, x2, label), got {header}"
            )
        tab.session.upload = Upload(name, text, header)
        return JSONResponse({"name": name, "columns": header, "lines": rows})

    async def upload_text(self, request: Request) -> Response:
        """A text for the tab's language model: UTF-8, not binary, at most ``MAX_TEXT_UPLOAD_BYTES``."""
        tab = self.tab_of(request)
        name = request.query_params.get("name", "upload.txt")[:100] or "upload.txt"
        body = await _read_body(
            request, MAX_TEXT_UPLOAD_BYTES, f"{name} is larger than {MAX_TEXT_UPLOAD_BYTES >> 10} KB"
        )
        try:
            content, description = await self.run_job(text.read_upload, name, body)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        tab.text_upload = (content, description)
        return JSONResponse({"name": name, "characters": len(content), "description": description})

    async def download(self, request: Request) -> Response:
        tab = self.tab_of(request)
        what = request.path_params["what"]
        if what not in ("model.npz", "script.py"):
            raise HTTPException(404, f"no download {what[:40]!r}: model.npz or script.py")
        if what == "model.npz":
            body = await tab.job(tab.session.model_file)
            kind, filename = "application/octet-stream", "playground_model.npz"
        else:
            body = await tab.job(tab.session.script)
            kind, filename = "text/x-python; charset=utf-8", "playground_run.py"
        return Response(
            body, media_type=kind, headers={"content-disposition": f'attachment; filename="{filename}"'}
        )

    async def predict_digit(self, request: Request) -> Response:
        body = await _read_body(
            request, MAX_DRAWING_BYTES, f"a drawing may take at most {MAX_DRAWING_BYTES} bytes"
        )
        drawing = _read_drawing(body)
        model = await self.run_job(self.digit_classifier)
        bitmap, image = digits.preprocess(drawing)
        proba = await self.run_job(model.proba, image[None])
        return JSONResponse({
            "image": image.tolist(), "bitmap": ["".join(map(str, row)) for row in bitmap],
            "proba": proba[0].tolist(), "labels": model.label_names, "model": model.source,
        })  # fmt: skip

    async def status(self, request: Request) -> Response:
        return JSONResponse({
            "sessions": len(self.tabs), "playing": sum(t.playing for t in self.tabs.values()),
            "jobs_running": self.jobs_running, "max_sessions": self.max_sessions,
        })  # fmt: skip

    async def shutdown(self) -> None:
        for tab in list(self.tabs.values()):
            await tab.pause(notify=False)
        self.pool.shutdown(wait=True)


class _Gone(Exception):
    """The client went away before its request body was read: nobody is left to answer."""


async def _read_body(request: Request, limit: int, too_large: str) -> bytes:
    """The body of ``request``, read a chunk at a time and never more than ``limit`` bytes of it kept.

    A body over ``limit`` (by its Content-Length, or as it streams in) is an
    ``HTTPException(413, too_large)``. Its chunks are read on and dropped up to
    ``DRAIN_FACTOR * limit`` bytes, so that a client still sending sees the
    answer; a body declared longer than that is answered without reading it.
    A client that disconnects mid-body raises ``_Gone``, answered by nothing.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_FACTOR * limit:
        raise HTTPException(413, too_large)
    body, size = bytearray(), 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size <= limit:
                body += chunk
            elif size > DRAIN_FACTOR * limit:
                break
    except ClientDisconnect:
        raise _Gone from None
    if size > limit:
        raise HTTPException(413, too_large)
    return bytes(body)


def _read_drawing(body: bytes) -> np.ndarray:
    """The drawing of a request: JSON ``{"width", "height", "bits"}``, bits packed row by row, base64."""
    try:
        msg = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise HTTPException(400, "the drawing must be JSON: {width, height, bits}") from None
    if not isinstance(msg, dict):
        raise HTTPException(400, "the drawing must be a JSON object: {width, height, bits}")
    w, h, bits = msg.get("width"), msg.get("height"), msg.get("bits")
    for name, v in (("width", w), ("height", h)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_DRAWING_SIDE:
            raise HTTPException(
                400, f"{name} must be an integer from 1 to {MAX_DRAWING_SIDE}, got {str(v)[:40]}"
            )
    try:
        packed = np.frombuffer(base64.b64decode(bits, validate=True), dtype=np.uint8)
    except (binascii.Error, TypeError, ValueError):
        raise HTTPException(400, "bits must be base64 text") from None
    if packed.size != (w * h + 7) // 8:
        raise HTTPException(400, f"bits must hold {(w * h + 7) // 8} bytes for {w}x{h}, got {packed.size}")
    return np.unpackbits(packed)[: w * h].reshape(h, w)


def _hostname(value: str) -> str:
    """The host name of a ``Host`` header or an origin's ``host[:port]``, lower case, without brackets."""
    if value.startswith("["):
        return value[1 : value.find("]")].lower() if "]" in value else value.lower()
    return value.rsplit(":", 1)[0].lower() if value.count(":") == 1 else value.lower()


class _OriginCheck:
    """ASGI middleware refusing requests that do not come from this server's pages (403).

    ``Host`` must be one of ``names`` (unless the server listens on every
    address, ``names`` None, where any name may reach it); ``Origin``, when
    present, must be ``http://`` plus that same ``Host``. A refused WebSocket
    is closed before it is accepted (the browser sees 403).
    """

    def __init__(self, app, names: frozenset | None) -> None:
        self.app, self.names = app, names

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            why = self._refused(dict(scope["headers"]))
            if why is not None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": why})
                else:
                    await JSONResponse({"error": why}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refused(self, headers: dict) -> str | None:
        host = headers.get(b"host", b"").decode("latin-1")
        if self.names is not None and _hostname(host) not in self.names:
            return f"Host {host[:60]!r} is not this server's address"
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1") != f"http://{host}":
            return f"Origin {origin.decode('latin-1')[:60]!r} is not this server's page"
        return None


def allowed_names(host: str) -> frozenset | None:
    """The ``Host`` names a server bound to ``host`` answers to (None: any, it listens everywhere)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    name = _hostname(f"[{host}]" if ":" in host else host)
    return frozenset(LOOPBACK) if name in LOOPBACK else frozenset({name, *LOOPBACK})


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _gone(request: Request, exc: _Gone) -> Response:
    return Response(status_code=400)  # never sent: the client has gone; nothing for the log either


def page_html(path: str) -> str:
    """The page at ``path`` (a key of ``PAGES``): its body set in ``layout.html``, the menu naming all."""
    body, title, _, script = PAGES[path]
    nav = " · ".join(f'<a href="{href}">{name}</a>' for href, (_, _, name, _) in PAGES.items())
    layout, body = ((STATIC / name).read_text(encoding="utf-8") for name in ("layout.html", body))
    return layout.format(title=title, nav=nav, body=body, script=script)


def create_app(
    max_sessions: int = 24,
    workers: int = 2,
    digit_model: str | None = None,
    *,
    host: str = "127.0.0.1",
    idle_timeout: float = IDLE_TIMEOUT,
) -> Starlette:
    """The Starlette application (``app.state.playground`` holds the ``Playground``), for a server
    bound to ``host`` (whose names alone it answers to, ``_OriginCheck``)."""
    pg = Playground(max_sessions, workers, digit_model, idle_timeout)

    def page(path: str):
        async def endpoint(request: Request) -> Response:
            return HTMLResponse(page_html(path))

        return endpoint

    async def api_meta(request: Request) -> Response:
        return JSONResponse(meta())

    routes = [
        *(Route(path, page(path)) for path in PAGES),
        Route("/api/meta", api_meta),
        Route("/api/status", pg.status),
        Route("/api/session/{sid}/upload", pg.upload, methods=["POST"]),
        Route("/api/session/{sid}/text", pg.upload_text, methods=["POST"]),
        Route("/api/session/{sid}/{what:str}", pg.download),
        Route("/api/digits/predict", pg.predict_digit, methods=["POST"]),
        WebSocketRoute("/ws", pg.websocket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await pg.shutdown()

    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, _Gone: _gone},
        lifespan=lifespan,
        middleware=[Middleware(_OriginCheck, names=allowed_names(host))],
    )
    app.state.playground = pg
    return app
