"""The API origin: every endpoint of seedance-api.md plus the official task extras."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from seedrun import api_facts
from seedrun.sim import answers, fetching, moderation
from seedrun.sim.engine import Engine, NotQueued, SimTask
from seedrun.sim.files import create_files_app
from seedrun.sim.middleware import ApiGate, RequestLog
from seedrun.sim.state import SimState
from seedrun.sim.validate import Invalid, TaskRequest, parse_official, parse_unified

TASKS = "/api/v3/contents/generations/tasks"
UNIFIED = "/v1/video/generations"
LIST_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 10, 500

__all__ = ["create_api_app", "create_files_app"]


def _answer(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(answers.error(code, message), status_code=status)


def _invalid(message: str) -> JSONResponse:
    return _answer(400, "invalid_request", message)


def _not_found(task_id: str) -> JSONResponse:
    return _answer(404, "not_found", f"task {task_id} not found")


async def _json(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise Invalid("request body must be valid JSON") from None


def _int_param(request: Request, name: str, default: int, most: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    allowed = f"from 1 to {most}" if most is not None else "of at least 1"
    valid = raw.isascii() and raw.isdigit() and int(raw) >= 1
    if not valid or (most is not None and int(raw) > most):
        raise Invalid(f"{name} must be an integer {allowed} (got {json.dumps(raw)})")
    return int(raw)


class _Api:
    def __init__(self, state: SimState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route(TASKS, self.create_official, methods=["POST"]),
            Route(TASKS, self.list_official, methods=["GET"]),
            Route(TASKS + "/{task_id}", self.get_official, methods=["GET"]),
            Route(TASKS + "/{task_id}", self.cancel_official, methods=["DELETE"]),
            Route(UNIFIED, self.create_unified, methods=["POST"]),
            Route(UNIFIED + "/{task_id}", self.get_unified, methods=["GET"]),
            Route("/v1/images/moderations", self.moderate, methods=["POST"]),
            Route("/v1/assets/moderations", self.moderate, methods=["POST"]),
        ]

    # --- create ------------------------------------------------------------

    async def create_official(self, request: Request) -> JSONResponse:
        return await self._create(request, parse_official, answers.official_created)

    async def create_unified(self, request: Request) -> JSONResponse:
        return await self._create(request, parse_unified, answers.unified_created)

    async def _create(
        self,
        request: Request,
        parse: Callable[[object], TaskRequest],
        shape: Callable[[SimTask, float, Engine], dict[str, Any]],
    ) -> JSONResponse:
        state, config = self.state, self.state.config
        state.creates += 1
        try:
            body = await _json(request)
            now = state.now()  # after the body arrived: tasks are planned in arrival order
            self._check_supported(body)
            parsed = parse(body)
            self._check_references(parsed, now)
        except Invalid as exc:
            return _invalid(exc.message)
        assert isinstance(body, dict)  # parse() accepted it
        attempt = state.engine.attempt(parsed.flavour, body)
        if state.happens(config.error_rate_before, attempt, "error-before"):
            return _answer(500, "internal_error", "internal server error; please retry")
        task = state.engine.create(attempt, parsed, body, now)
        if state.happens(config.error_rate_after, task.id, "error-after"):
            return _answer(500, "internal_error", "internal server error; please retry")
        return JSONResponse(shape(task, now, state.engine))

    def _check_supported(self, body: object) -> None:
        """Play a gateway that lacks some task-service parameters."""
        if not isinstance(body, dict):
            return
        meta = body.get("metadata")
        places = [body, meta] if isinstance(meta, dict) else [body]
        for name in self.state.config.unsupported_params:
            if any(name in place for place in places):
                raise Invalid(f"unknown parameter: {name} is not supported by this endpoint")

    def _check_references(self, parsed: TaskRequest, now: float) -> None:
        """Asset ids must come from this server's moderation; drafts must have succeeded."""
        for where, url in parsed.asset_refs:
            if url not in self.state.assets:
                raise Invalid(f"{where}: {url} is not an approved asset; use an asset_url "
                              "returned by /v1/images/moderations")
        for where, task_id in parsed.draft_refs:
            draft = self.state.engine.find(task_id, now)
            if draft is None:
                raise Invalid(f"{where}: draft task {task_id} not found")
            if not draft.request.draft:
                raise Invalid(f"{where}: task {task_id} is not a draft task "
                              "(create drafts with draft: true)")
            status = draft.status_at(now)
            if status != "succeeded":
                raise Invalid(f"{where}: draft task {task_id} is {status}; "
                              "only a succeeded draft task can be used")

    # --- retrieve ----------------------------------------------------------

    async def get_official(self, request: Request) -> JSONResponse:
        return self._get(request, "official")

    async def get_unified(self, request: Request) -> JSONResponse:
        return self._get(request, "unified")

    def _get(self, request: Request, flavour: str) -> JSONResponse:
        state = self.state
        state.gets += 1
        task_id = request.path_params["task_id"]
        if state.get_fails(task_id):
            return _answer(503, "service_unavailable", "service temporarily unavailable")
        now = state.now()
        task = state.engine.find(task_id, now, flavour)
        if task is None or state.lagging(task_id):
            return _not_found(task_id)
        if state.answers_other(task_id):
            task = state.engine.other(task) or task
        if flavour == "official":
            return JSONResponse(answers.official_task(task, now, state.engine, state.mint_url))
        return JSONResponse(answers.unified_task(task, now, state.engine, state.mint_url))

    async def list_official(self, request: Request) -> JSONResponse:
        state = self.state
        if not state.config.list_endpoint:
            return _answer(404, "not_found", "the task list endpoint is not available")
        state.lists += 1
        query = request.query_params
        try:
            page_num = _int_param(request, "page_num", 1, None)
            page_size = _int_param(request, "page_size", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX)
            status = query.get("filter.status") or None
            if status is not None and status not in LIST_STATUSES:
                raise Invalid(f"filter.status must be one of {', '.join(LIST_STATUSES)} "
                              f"(got {json.dumps(status)})")
            tier = query.get("filter.service_tier") or None
            if tier is not None and tier not in api_facts.SERVICE_TIERS:
                raise Invalid(f"filter.service_tier must be one of "
                              f"{', '.join(api_facts.SERVICE_TIERS)} (got {json.dumps(tier)})")
        except Invalid as exc:
            return _invalid(exc.message)
        if state.get_fails("list"):  # the n-th list request: fixed by the seed
            return _answer(503, "service_unavailable", "service temporarily unavailable")
        now = state.now()
        found = state.engine.listing(
            now,
            status=status,
            task_ids=tuple(query.getlist("filter.task_ids")),
            model=query.get("filter.model") or None,
            service_tier=tier,
        )
        page = found[(page_num - 1) * page_size : page_num * page_size]
        items = [answers.official_task(t, now, state.engine, state.mint_url) for t in page]
        stray = self._stray(found, now)
        if stray is not None:
            items.append(answers.official_task(stray, now, state.engine, state.mint_url))
        return JSONResponse({"total": len(found), "items": items})

    def _stray(self, found: list[SimTask], now: float) -> SimTask | None:
        """With wrong_id_rate, a list answer may carry a task that was not asked for."""
        state = self.state
        if not found or not state.answers_other(f"list#{state.lists}"):
            return None
        asked = {t.id for t in found}
        others = [t for t in state.engine.listing(now) if t.id not in asked]
        return others[0] if others else None

    async def cancel_official(self, request: Request) -> JSONResponse:
        state = self.state
        state.cancels += 1
        task_id = request.path_params["task_id"]
        now = state.now()
        task = state.engine.find(task_id, now, "official")
        if task is None:
            return _not_found(task_id)
        try:
            state.engine.cancel(task, now)
        except NotQueued as exc:
            return _invalid(f"task {task_id} is {exc.status}; only a queued task can be cancelled")
        return JSONResponse({})

    # --- moderation --------------------------------------------------------

    async def moderate(self, request: Request) -> JSONResponse:
        state, config = self.state, self.state.config
        state.moderations += 1
        try:
            urls = moderation.parse_moderation(await _json(request)).urls
        except Invalid as exc:
            return JSONResponse(moderation.failure("invalid_request", exc.message), 400)
        if any(config.moderation_timeout_marker in url for url in urls):
            failure = moderation.failure("moderation_timeout", moderation.TIMEOUT_MESSAGE)
            return JSONResponse(failure, 504)
        if config.fetch_images:
            async with httpx.AsyncClient(follow_redirects=True) as fetcher:
                for index, url in enumerate(urls):
                    problem = await fetching.fetch_problem(fetcher, url)
                    if problem is not None:
                        message = f"image {index + 1}: {problem}"
                        return JSONResponse(moderation.failure("invalid_image", message), 400)
        items = moderation.review(urls, config.reject_marker)
        state.assets.update(item["asset_url"] for item in items if item["passed"])
        batch = state.engine.attempt("moderation", list(urls))
        return JSONResponse(moderation.result(config.seed, batch, items))


def create_api_app(state: SimState) -> ASGIApp:
    """The API origin's ASGI app: logged, then gated by latency, auth and rate limit."""
    app = Starlette(routes=_Api(state).routes())
    return RequestLog(ApiGate(app, state), state, "api")
