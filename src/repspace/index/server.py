"""The HTTP API and web UI over one or more indexes (FastAPI, served by uvicorn).

Endpoints: ``GET/POST /search`` (``mode`` dense, lexical or hybrid; ``alpha``, ``fusion``,
``norm``, ``candidates`` for hybrid; each hit explains its rank with its dense, lexical and fused
scores), ``GET /spaces``, ``GET /spaces/{name}`` (manifest, inspect
metrics, reports), ``GET /spaces/{name}/neighbors/{id}``, ``GET /spaces/{name}/map``,
``GET /spaces/{name}/reports/{report}``, ``GET /health``; the UI at ``/``; OpenAPI at
``/openapi.json`` and ``/docs``. Names in URLs only look up the dict of served indexes and the
reports found at startup; no request value ever becomes a filesystem path. Errors are JSON
``{"error": ...}`` with a 4xx status; bodies over ``max_body`` bytes get 413.
"""

import hmac
import json
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from repspace._version import __version__
from repspace.errors import RepspaceError
from repspace.index.fusion import FUSIONS, MODES, NORMS
from repspace.index.index import Index
from repspace.index.projection import projection
from repspace.index.reports import KNOWN_REPORTS, find_reports, inspect_metrics

MAX_QUERY_CHARS = 1_000
MAX_K = 1_000
MAX_BODY = 16 * 1024
Mode = Literal[MODES]  # type: ignore[valid-type]
FusionName = Literal[FUSIONS]  # type: ignore[valid-type]
Norm = Literal[NORMS]  # type: ignore[valid-type]
#: UI asset name -> media type; only these names are served from the package.
ASSETS = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}


def index_names(paths: Sequence[str | Path]) -> list[str]:
    """A URL name per index: its directory name, made unique with -2, -3, ..."""
    names: list[str] = []
    for p in paths:
        base = Path(p).resolve().name or "index"
        name, i = base, 2
        while name in names:
            name, i = f"{base}-{i}", i + 1
        names.append(name)
    return names


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _send_json(send, 413, {"error": f"request body over {self.limit} bytes"})
            return
        seen = 0
        too_large = sent_413 = False

        async def limited_receive() -> dict:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: dict) -> None:
            # The app may turn the interrupted body read into its own error: answer 413 instead.
            nonlocal sent_413
            if too_large:
                if not sent_413:
                    sent_413 = True
                    await _send_json(send, 413, {"error": f"request body over {self.limit} bytes"})
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not sent_413:
                await _send_json(send, 413, {"error": f"request body over {self.limit} bytes"})


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def check_api_key(api_key: str | None) -> None:
    """Refuse a blank key, which would protect nothing."""
    if api_key is not None and not api_key.strip():
        raise RepspaceError("--api-key is empty; give a key or leave the option out")


def create_app(
    indexes: dict[str, Index],
    *,
    api_key: str | None = None,
    max_body: int = MAX_BODY,
    map_sample: int = 2_000,
) -> Any:
    """The FastAPI app serving ``indexes`` (URL name -> open index)."""
    if not indexes:
        raise RepspaceError("serve needs at least one index")
    check_api_key(api_key)
    reports = {name: find_reports(ix) for name, ix in indexes.items()}
    maps: dict[str, dict[str, Any]] = {}

    app = FastAPI(
        title="repspace",
        description="Search and explore embedding spaces.",
        version=__version__,
    )

    class ApiError(Exception):
        def __init__(self, status: int, message: str):
            self.status, self.message = status, message

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return JSONResponse({"error": e.message}, status_code=e.status)

    @app.exception_handler(RepspaceError)
    async def _bad_input(_: Request, e: RepspaceError) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse({"error": message}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code)

    def check_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if api_key is not None and not hmac.compare_digest(
            (x_api_key or "").encode(), api_key.encode()
        ):
            raise ApiError(401, "missing or wrong X-API-Key header")

    protected = [Depends(check_key)]

    def get_index(name: str) -> Index:
        index = indexes.get(name)
        if index is None:
            raise ApiError(404, f"no space named {name!r}; see /spaces")
        return index

    def default_name(name: str | None) -> str:
        if name is None:
            if len(indexes) > 1:
                raise ApiError(400, f"several spaces are served; name one ({', '.join(indexes)})")
            return next(iter(indexes))
        return name

    class SearchBody(BaseModel):
        query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
        space: str | None = Field(default=None, max_length=200)
        k: int = Field(default=10, ge=1, le=MAX_K)
        filter: dict[str, str] = Field(default_factory=dict, max_length=16)
        exact: bool | None = None
        rerank: str | None = Field(default=None, max_length=16)
        shortlist: int = Field(default=100, ge=1, le=MAX_K)
        mode: Mode | None = None
        alpha: float | None = Field(default=None, ge=0.0, le=1.0)
        fusion: FusionName | None = None
        norm: Norm | None = None
        candidates: int | None = Field(default=None, ge=1, le=MAX_K)

    def run_search(body: SearchBody) -> dict[str, Any]:
        name = default_name(body.space)
        index = get_index(name)
        if not body.query.strip():
            raise ApiError(400, "the query is empty; give some text to search for")
        hits = index.search(
            body.query,
            body.k,
            filters=body.filter,
            exact=body.exact,
            rerank=body.rerank,
            shortlist=body.shortlist,
            mode=body.mode,
            alpha=body.alpha,
            fusion=body.fusion,
            norm=body.norm,
            candidates=body.candidates,
        )
        return {"space": name, "query": body.query, "k": body.k, **hits.to_dict()}

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness: ok and the served spaces."""
        return {"status": "ok", "spaces": list(indexes)}

    @app.get("/search", dependencies=protected, tags=["search"])
    def search_get(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS)],
        space: Annotated[str | None, Query(max_length=200)] = None,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        filter: Annotated[list[str] | None, Query(max_length=16)] = None,
        exact: bool | None = None,
        rerank: Annotated[str | None, Query(max_length=16)] = None,
        shortlist: Annotated[int, Query(ge=1, le=MAX_K)] = 100,
        mode: Mode | None = None,
        alpha: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
        fusion: FusionName | None = None,
        norm: Norm | None = None,
        candidates: Annotated[int | None, Query(ge=1, le=MAX_K)] = None,
    ) -> dict[str, Any]:
        """Search a space by text; ``filter=field=value`` (repeatable) keeps matching rows;
        ``mode`` dense, lexical or hybrid (default: hybrid when the space has a lexical index);
        ``rerank=binary`` (or a prefix dimension) searches densely by shortlist-then-rerank."""
        from repspace.index.filters import parse_filters

        body = SearchBody.model_construct(
            query=q, space=space, k=k, filter=parse_filters(filter), exact=exact, rerank=rerank,
            shortlist=shortlist, mode=mode, alpha=alpha, fusion=fusion, norm=norm,
            candidates=candidates,
        )  # fmt: skip
        return run_search(body)

    @app.post("/search", dependencies=protected, tags=["search"])
    def search_post(body: SearchBody) -> dict[str, Any]:
        """Search a space by text, with a JSON body."""
        return run_search(body)

    @app.get("/spaces", dependencies=protected, tags=["spaces"])
    def spaces() -> list[dict[str, Any]]:
        """The served spaces."""
        return [{"name": name, **ix.info().to_dict()} for name, ix in indexes.items()]

    NameParam = Annotated[str, PathParam(max_length=200)]

    @app.get("/spaces/{name}", dependencies=protected, tags=["spaces"])
    def space(name: NameParam) -> dict[str, Any]:
        """One space: its index manifest, inspect metrics and available reports."""
        index = get_index(name)
        return {
            "name": name,
            **index.info().to_dict(),
            "manifest": index.manifest,
            "inspect": inspect_metrics(reports[name]),
            "reports": [
                {"name": r, "kind": KNOWN_REPORTS[r][0], "url": f"/spaces/{name}/reports/{r}"}
                for r in reports[name]
            ],
        }

    @app.get("/spaces/{name}/neighbors/{id:path}", dependencies=protected, tags=["spaces"])
    def neighbors(
        name: NameParam,
        id: Annotated[str, PathParam(max_length=MAX_QUERY_CHARS)],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    ) -> dict[str, Any]:
        """The nearest rows of one row of a space."""
        index = get_index(name)
        if id not in index.ids:
            raise ApiError(404, f"no id {id!r} in space {name!r}")
        row = index.row(id)
        return {
            "space": name,
            "id": id,
            "text": row.get("text"),
            "hits": [h.to_dict() for h in index.neighbors(id, k)],
        }

    @app.get("/spaces/{name}/map", dependencies=protected, tags=["spaces"])
    def space_map(name: NameParam) -> dict[str, Any]:
        """2-D PCA projection of a sample of the space (cached beside the index)."""
        index = get_index(name)
        if name not in maps:
            maps[name] = projection(index, map_sample)
        return maps[name]

    @app.get("/spaces/{name}/reports/{report}", dependencies=protected, tags=["spaces"])
    def report(name: NameParam, report: Annotated[str, PathParam(max_length=64)]) -> Response:
        """A report file found beside the space at startup (a fixed set of known names)."""
        get_index(name)
        path = reports[name].get(report)
        if path is None:
            raise ApiError(404, f"no report {report!r} for space {name!r}")
        kind = KNOWN_REPORTS[report][0]
        return FileResponse(path, media_type="text/html" if kind == "html" else "application/json")

    ui = resources.files("repspace.index") / "ui"

    def asset(name: str) -> Response:
        return Response((ui / name).read_bytes(), media_type=ASSETS[name])

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return asset("index.html")

    @app.get("/ui/{name}", include_in_schema=False)
    def ui_asset(name: str) -> Response:
        if name not in ASSETS:
            raise ApiError(404, f"no asset {name!r}")
        return asset(name)

    return BodyLimit(app, max_body) if max_body else app


def serve(
    paths: Sequence[str | Path],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    on_ready: Any = None,
) -> None:
    """Open the indexes, load and warm their encoders, and serve them until interrupted;
    ``on_ready`` gets the startup line (address, and how long the encoders took to load)."""
    import uvicorn

    if not 0 <= port <= 65535:
        raise RepspaceError(f"--port {port} is not a TCP port (0-65535)")
    check_api_key(api_key)
    names = index_names(paths)
    indexes = {name: Index.open(p) for name, p in zip(names, paths, strict=True)}
    for index in indexes.values():
        projection(index)  # compute the map once, before the first request
    warmed = warm_encoders(indexes.values())
    app = create_app(indexes, api_key=api_key)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(f"serving {len(indexes)} index(es) at http://{host}:{port}/ ({warmed})")
    server.run()


def warm_encoders(indexes: Any) -> str:
    """Load each index's encoder and encode one query, so the first request is as fast as the
    rest; returns what was done, for the startup line."""
    t0 = time.perf_counter()
    specs = []
    for index in indexes:
        if index.encoder_spec is None:  # imported vectors: text queries are refused anyway
            continue
        index.encode_query("warm-up query")
        specs.append(index.encoder_spec)
    if not specs:
        return "no encoder to load: vector and lexical queries only"
    unique = ", ".join(dict.fromkeys(specs))
    return f"encoder {unique} loaded and warmed in {time.perf_counter() - t0:.1f} s"
