"""The HTTP service: an OpenAI-compatible API over one Engine, on Starlette.

Endpoints: POST /v1/chat/completions and POST /v1/completions (JSON, or server-sent events
with "stream": true), GET /v1/models, GET /health, GET /metrics (Prometheus text).

Every generation goes through the Scheduler (scheduler.py): a full queue answers 429 with
Retry-After; a client that disconnects, while it waits or while it streams, cancels its
job. Up to ``max_batch`` generations run at once, decoded together in the engine's batch
session (continuous batching: a request joins at the next step and leaves when done). The
event loop never runs the model: the jobs' threads do, and hand each piece over with
call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import EdgeReasonError
from .metrics import Metrics
from .protocol import ApiError, Request, bad_request, parse_chat, parse_completion
from .scheduler import DeadlineExceeded, Job, QueueFull, Scheduler

if TYPE_CHECKING:
    from ..engine import Engine, Generation

log = logging.getLogger("edge_reason.serve")

MAX_BODY_BYTES = 4 << 20
# the engine's finish reasons -> OpenAI's ("time": the request's time limit cut it short)
FINISH_REASONS = {
    "eos": "stop",
    "stop": "stop",
    "length": "length",
    "time": "length",
    "tool_calls": "tool_calls",
}


class _Disconnected(Exception):
    pass


class Service:
    """The endpoints' state: the engine, its scheduler, the key, the counters."""

    def __init__(
        self,
        engine: Engine,
        *,
        model_id: str,
        api_key: str | None = None,
        max_queue: int = 8,
        max_batch: int = 8,
        time_limit_s: float | None = 300.0,
    ) -> None:
        self.engine = engine
        self.model_id = model_id
        self._key = api_key.encode() if api_key else None
        self.time_limit_s = time_limit_s
        self.metrics = Metrics()
        # requests decoded together; an engine without batches runs them one at a time
        batching = max_batch > 1 and engine.batches
        self.batch = engine.batch_session().__enter__() if batching else None
        self.scheduler = Scheduler(
            max_queue,
            on_finish=lambda _job, o: self.metrics.finished(o),
            max_running=max_batch if self.batch is not None else 1,
        )
        self.created = int(time.time())

    def close(self) -> None:
        """Cancel every request and let go of the engine."""
        self.scheduler.close()
        if self.batch is not None:
            self.batch.__exit__(None, None, None)
            self.batch = None

    # ---- endpoints -----------------------------------------------------------------

    async def chat_completions(self, request: HttpRequest) -> Response:
        return await self._generate(request, "/v1/chat/completions", parse_chat)

    async def completions(self, request: HttpRequest) -> Response:
        return await self._generate(request, "/v1/completions", parse_completion)

    async def models(self, request: HttpRequest) -> Response:
        try:
            self._authorize(request)
        except ApiError as e:
            return self._error("/v1/models", e)
        self.metrics.request("/v1/models", 200)
        return JSONResponse({"object": "list", "data": [self._model_card()]})

    async def model(self, request: HttpRequest) -> Response:
        try:
            self._authorize(request)
            name = request.path_params["model"]
            if name != self.model_id:
                raise ApiError(
                    404, f"The model '{name}' does not exist", param="model", code="model_not_found"
                )
        except ApiError as e:
            return self._error("/v1/models", e)
        self.metrics.request("/v1/models", 200)
        return JSONResponse(self._model_card())

    async def health(self, request: HttpRequest) -> Response:
        s = self.scheduler
        return JSONResponse(
            {
                "status": "ok",
                "model": self.model_id,
                "busy": s.busy,
                "running": s.running,
                "waiting": s.waiting,
            }
        )

    async def prometheus(self, request: HttpRequest) -> Response:
        try:
            self._authorize(request)
        except ApiError as e:
            return self._error("/metrics", e)
        s = self.scheduler
        text = self.metrics.render(
            waiting=s.waiting, running=s.running, max_queue=s.max_queue, max_running=s.max_running
        )
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    # ---- generation ------------------------------------------------------------------

    async def _generate(self, request: HttpRequest, endpoint: str, parse: Any) -> Response:
        try:
            self._authorize(request)
            req = parse(await _json_body(request), self.model_id)
            return await self._run(request, req, endpoint)
        except ApiError as e:
            return self._error(endpoint, e)
        except _Disconnected:
            self.metrics.request(endpoint, 499, "client_disconnected")
            return Response(status_code=499)

    async def _run(self, http: HttpRequest, req: Request, endpoint: str) -> Response:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def emit(event: tuple[str, Any]) -> None:  # in the generation thread
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is gone (shutdown): nobody listens
                job.cancelled.set()

        deadline = None if self.time_limit_s is None else time.monotonic() + self.time_limit_s
        job = Job(start=lambda time_left: self._start(req, time_left), emit=emit, deadline=deadline)
        try:
            self.scheduler.submit(job)
        except QueueFull as e:
            raise ApiError(
                429,
                f"{e}: {self.scheduler.max_queue} requests are already waiting",
                type="rate_limit_error",
                code="queue_full",
                headers={"Retry-After": str(e.retry_after)},
            ) from e
        handed_over = False
        watcher = asyncio.ensure_future(_disconnect(http))
        try:
            event = await self._next(events, watcher, job)
            if event[0] == "error":
                raise _api_error(event[1])
            if req.stream:
                handed_over = True
                self.metrics.request(endpoint, 200)
                return StreamingResponse(
                    self._events(req, event, events, job),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            while event[0] == "piece":
                event = await self._next(events, watcher, job)
            if event[0] == "error":
                raise _api_error(event[1])
            self.metrics.request(endpoint, 200)
            return JSONResponse(self._whole(req, event[1]))
        finally:
            watcher.cancel()
            if not handed_over:
                self.scheduler.cancel(job)  # a no-op for a job that has finished

    async def _next(
        self, events: asyncio.Queue[tuple[str, Any]], watcher: asyncio.Future[None], job: Job
    ) -> tuple[str, Any]:
        """The job's next event, unless the client disconnects first."""
        get = asyncio.ensure_future(events.get())
        done, _ = await asyncio.wait({get, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()
        get.cancel()
        self.scheduler.cancel(job)
        raise _Disconnected

    def _start(self, req: Request, time_left: float | None) -> Any:
        """In the generation thread: the job's Stream."""
        params = req.params
        if time_left is not None:
            limit = params.time_limit_s
            params = replace(params, time_limit_s=min(time_left, limit or time_left))
        if req.kind == "chat":
            return self.engine.chat_stream(
                req.messages, params, batch=self.batch, **req.chat_options
            )
        return self.engine.stream(req.prompt, params, batch=self.batch)

    async def _events(
        self,
        req: Request,
        first: tuple[str, Any],
        events: asyncio.Queue[tuple[str, Any]],
        job: Job,
    ) -> AsyncIterator[str]:
        """Server-sent events: a chunk per piece, the finish reason, usage, [DONE]."""
        ended = False
        chunk = _Chunks(req, self.model_id)
        try:
            if req.kind == "chat":
                yield chunk.sse({"role": "assistant", "content": ""})
            event = first
            while True:
                kind, value = event
                if kind == "piece":
                    yield chunk.sse(value)
                elif kind == "done":
                    if value.tool_calls:  # calls are sent whole, once parsed
                        calls = [
                            {"index": i, **c.as_openai()} for i, c in enumerate(value.tool_calls)
                        ]
                        yield chunk.sse({"tool_calls": calls})
                    yield chunk.sse(None, FINISH_REASONS.get(value.finish_reason, "stop"))
                    if req.include_usage:
                        yield chunk.usage(value)
                    yield "data: [DONE]\n\n"
                    ended = True
                    return
                else:  # the error came after the response began: say so in the stream
                    error = _api_error(value)
                    self.metrics.request("stream", error.status, error.type)
                    yield f"data: {json.dumps(error.body())}\n\n"
                    ended = True
                    return
                event = await events.get()
        finally:
            if not ended:  # the client went away (the response was cancelled)
                self.scheduler.cancel(job)

    def _whole(self, req: Request, g: Generation) -> dict[str, Any]:
        finish = FINISH_REASONS.get(g.finish_reason, "stop")
        if req.kind == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": g.text}
            if g.reasoning:
                message["reasoning_content"] = g.reasoning
            if g.tool_calls:
                message["tool_calls"] = [c.as_openai() for c in g.tool_calls]
                message["content"] = g.text or None
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            kind, prefix = "chat.completion", "chatcmpl"
        else:
            choice = {"index": 0, "text": g.text, "logprobs": None, "finish_reason": finish}
            kind, prefix = "text_completion", "cmpl"
        return {
            "id": f"{prefix}-{uuid.uuid4().hex}",
            "object": kind,
            "created": int(time.time()),
            "model": self.model_id,
            "choices": [choice],
            "usage": _usage(g),
            "system_fingerprint": None,
        }

    # ---- helpers ---------------------------------------------------------------------

    def _authorize(self, request: HttpRequest) -> None:
        if self._key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(
                401,
                "Missing API key: send it as 'Authorization: Bearer KEY'",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(given.strip().encode(), self._key):
            raise ApiError(
                401,
                "Incorrect API key provided",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def _error(self, endpoint: str, e: ApiError) -> Response:
        self.metrics.request(endpoint, e.status, e.type)
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    def _model_card(self) -> dict[str, Any]:
        return {
            "id": self.model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "edge-reason",
        }


class _Chunks:
    """The chunks of one streamed response (one id, one created time)."""

    def __init__(self, req: Request, model_id: str) -> None:
        self.chat = req.kind == "chat"
        prefix = "chatcmpl" if self.chat else "cmpl"
        self.head = {
            "id": f"{prefix}-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": int(time.time()),
            "model": model_id,
            "system_fingerprint": None,
        }

    def sse(self, piece: Any, finish: str | None = None) -> str:
        """A chunk for a piece (a ChatPiece, str or a delta dict), or the last (None)."""
        if self.chat:
            if piece is None:
                delta: dict[str, Any] = {}
            elif isinstance(piece, dict):
                delta = piece
            else:  # reasoning goes in its own field, as DeepSeek's and vLLM's APIs do
                field = "reasoning_content" if piece.kind == "reasoning" else "content"
                delta = {field: piece.text}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            text = "" if piece is None else piece
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return f"data: {json.dumps({**self.head, 'choices': [choice]})}\n\n"

    def usage(self, g: Generation) -> str:
        return f"data: {json.dumps({**self.head, 'choices': [], 'usage': _usage(g)})}\n\n"


def _usage(g: Generation) -> dict[str, int]:
    prompt, completion = g.stats.prompt_tokens, g.stats.generated_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _api_error(e: BaseException) -> ApiError:
    """The answer to an exception raised while starting or running a generation."""
    if isinstance(e, ApiError):
        return e
    if isinstance(e, DeadlineExceeded):
        return ApiError(503, str(e), type="timeout_error", code="timeout")
    if isinstance(e, (EdgeReasonError, ValueError, TypeError)):
        return bad_request(str(e))  # a prompt too long for the context, a template error...
    log.error("generation failed", exc_info=e)
    return ApiError(500, f"internal error: {type(e).__name__}: {e}", type="server_error")


async def _json_body(request: HttpRequest) -> Any:
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_BODY_BYTES:
        raise ApiError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(f"the request body is not valid JSON: {e}") from e


async def _disconnect(request: HttpRequest) -> None:
    """Returns when the client disconnects (the body has been read by then)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _http_error(request: HttpRequest, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = ApiError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")
    return JSONResponse(error.body(), status_code=exc.status_code, headers=exc.headers)


def create_app(engine: Engine, **options: Any) -> Starlette:
    """The Starlette application; options: Service's (model_id, api_key, max_queue,
    max_batch, time_limit_s)."""
    service = Service(engine, **options)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", service.chat_completions, methods=["POST"]),
            Route("/v1/completions", service.completions, methods=["POST"]),
            Route("/v1/models", service.models, methods=["GET"]),
            Route("/v1/models/{model:path}", service.model, methods=["GET"]),
            Route("/health", service.health, methods=["GET"]),
            Route("/metrics", service.prometheus, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.service = service
    return app
