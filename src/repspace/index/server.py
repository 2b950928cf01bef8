"""The HTTP API and web UI over one or more indexes (FastAPI, served by uvicorn).

Endpoints: ``GET/POST /search`` (``mode`` dense, lexical or hybrid; ``alpha``, ``fusion``,
``norm``, ``candidates`` for hybrid; each hit explains its rank with its dense, lexical and fused
scores), ``GET /spaces``, ``GET /spaces/{name}`` (manifest, inspect
metrics, reports), ``GET /spaces/{name}/neighbors/{id}``, ``GET /spaces/{name}/map``,
``GET /spaces/{name}/reports/{report}``, ``GET /health``; the UI at ``/``; OpenAPI at
``/openapi.json`` and ``/docs`` (Swagger UI served from the files of the ``fastapi-offline``
package: no page of the app loads anything from another host; ``/redoc`` is off). Names in URLs
only look up the dict of served indexes and the reports found at startup; no request value ever
becomes a filesystem path. Errors are JSON ``{"error": ...}`` with a 4xx status; bodies over
``max_body`` bytes get 413.

Against DNS rebinding (a page of another site whose name is made to resolve to 127.0.0.1), every
request must name this server in its ``Host`` header, as Jupyter checks it: the loopback names
and the port when bound to loopback, the bound name or address otherwise (any IP address and this
machine's name when bound to all interfaces), plus the names given with ``--allow-host``
(``*``: any). A request carrying an ``Origin`` header must come from the server's own origin.
Others get 403.

With an API key, every route needs it in ``X-API-Key`` except ``/health`` and the UI shell
(``/`` and ``/ui/*``): the shell is the three packaged files, the same bytes for every server,
with no index name and no data; a browser cannot send a header when it opens a page, so the
shell must load to ask for the key, which it then sends with each data request. ``/docs`` and
``/openapi.json`` need the key too.
"""

import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
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
#: Swagger UI file name (in fastapi-offline's static folder) -> media type, served under /docs/.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


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


def split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port or None) of a ``Host`` header or ``--allow-host`` value: the name lower-cased,
    an IP address in its canonical form; None when the value is not a host[:port]."""
    try:
        return str(ipaddress.ip_address(value)), None  # a bare IPv6 address: ::1
    except ValueError:
        pass
    try:
        parts = urlsplit("//" + value)
        port = parts.port
    except ValueError:
        return None
    name = parts.hostname
    if not name or "@" in parts.netloc or parts.path or parts.query or parts.fragment:
        return None
    ip = _ip(name)
    return (name if ip is None else str(ip)), port


def _ip(name: str) -> Any:
    """The IP address that ``name`` is, or None for a host name."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def parse_allow_hosts(values: Sequence[str]) -> list[tuple[str, int | None]]:
    """The ``--allow-host`` values as (name, port or None); ``*`` stays ``("*", None)``."""
    hosts = []
    for value in values:
        parsed = ("*", None) if value.strip() == "*" else split_host(value.strip())
        if parsed is None:
            raise RepspaceError(
                f"--allow-host {value!r} is not a host name; give a name or address, "
                "optionally with :port (example.com, 192.168.1.5:8000), or * for any"
            )
        hosts.append(parsed)
    return hosts


class HostGuard:
    """ASGI middleware against DNS rebinding, as Jupyter's ``check_host`` (``local_hostnames``): 403
    unless the ``Host`` header names this server (see the module docstring), and, when the request
    has an ``Origin`` header, unless that origin is this server's own (same name and port, or a
    name given with ``--allow-host``, whose port a proxy may change)."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int | None = None, allow_hosts: Any = ()
    ):
        self.app, self.port = app, port
        self.extra = parse_allow_hosts(allow_hosts)
        name = (split_host(host) or (host.lower(), None))[0]
        ip = _ip(name)
        self.any_ip = name in WILDCARD
        if self.any_ip:
            self.names = LOOPBACK | {socket.gethostname().lower(), socket.getfqdn().lower()}
        elif name in LOOPBACK or (ip is not None and ip.is_loopback):
            self.names = LOOPBACK | {name}
        else:
            self.names = frozenset({name})

    def allowed_extra(self, name: str, port: int) -> bool:
        return any(n in ("*", name) and p in (None, port) for n, p in self.extra)

    def allowed(self, name: str, port: int) -> bool:
        if self.allowed_extra(name, port):
            return True
        if self.port is not None and port != self.port:
            return False
        return name in self.names or (self.any_ip and _ip(name) is not None)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        hosts = [v.decode("latin-1") for k, v in headers if k == b"host"]
        default_port = DEFAULT_PORTS.get(scope.get("scheme", "http"), 80)
        host = split_host(hosts[0]) if len(hosts) == 1 else None
        if host is None or not self.allowed(host[0], host[1] or default_port):
            shown = hosts[0] if len(hosts) == 1 else "missing" if not hosts else "repeated"
            name = host[0] if host else "NAME"
            message = (
                f"Host header {shown!r} does not name this server (refused against DNS "
                f"rebinding); to serve it under that name, start it with --allow-host {name}"
            )
            await _send_json(send, 403, {"error": message})
            return
        origins = [v.decode("latin-1") for k, v in headers if k == b"origin"]
        if origins and not self.same_origin(origins, host[0], host[1] or default_port):
            message = (
                f"Origin {origins[0]!r} is not this server's origin: pages of other sites may "
                "not call it (open the UI from this server; behind a proxy, --allow-host NAME)"
            )
            await _send_json(send, 403, {"error": message})
            return
        await self.app(scope, receive, send)

    def same_origin(self, origins: list[str], name: str, port: int) -> bool:
        """One origin whose name is the (checked) Host name, on its port or an allowed one."""
        if len(origins) != 1:
            return False
        try:
            parts = urlsplit(origins[0])
            origin = split_host(parts.netloc) if parts.scheme in ("http", "https") else None
        except ValueError:
            return False
        if origin is None or parts.path or origin[0] != name:
            return False
        origin_port = origin[1] or DEFAULT_PORTS[parts.scheme]
        return origin_port == port or self.allowed_extra(name, origin_port)


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
    host: str = "127.0.0.1",
    port: int | None = None,
    allow_hosts: Sequence[str] = (),
) -> FastAPI:
    """The FastAPI app serving ``indexes`` (URL name -> open index), answering requests that name
    ``host`` (on ``port``; None: any) or one of ``allow_hosts`` (``*``: any name)."""
    if not indexes:
        raise RepspaceError("serve needs at least one index")
    check_api_key(api_key)
    parse_allow_hosts(allow_hosts)
    reports = {name: find_reports(ix) for name, ix in indexes.items()}
    maps: dict[str, dict[str, Any]] = {}

    app = FastAPI(
        title="repspace",
        description="Search and explore embedding spaces.",
        version=__version__,
        openapi_url=None,  # served below, behind the API key like every data route
        docs_url=None,
        redoc_url=None,
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

    @app.get("/openapi.json", dependencies=protected, include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    swagger = resources.files("fastapi_offline") / "static"

    @app.get("/docs", dependencies=protected, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="repspace API",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
        )

    @app.get("/docs/{name}", dependencies=protected, include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name not in DOCS_ASSETS:
            raise ApiError(404, f"no asset {name!r}")
        return Response((swagger / name).read_bytes(), media_type=DOCS_ASSETS[name])

    if max_body:
        app.add_middleware(BodyLimit, limit=max_body)
    app.add_middleware(HostGuard, host=host, port=port, allow_hosts=tuple(allow_hosts))
    return app


def serve(
    paths: Sequence[str | Path],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    allow_hosts: Sequence[str] = (),
    on_ready: Any = None,
    verify: bool = True,
) -> None:
    """Open the indexes (every file checked against its sha256 unless ``verify`` is False),
    load and warm their encoders, and serve them until interrupted;
    ``on_ready`` gets the startup line (address, and how long the encoders took to load).
    Requests must name ``host`` or one of ``allow_hosts`` (``*``: any) in their Host header."""
    import uvicorn

    if not 0 <= port <= 65535:
        raise RepspaceError(f"--port {port} is not a TCP port (0-65535)")
    check_api_key(api_key)
    parse_allow_hosts(allow_hosts)
    names = index_names(paths)
    indexes = {name: Index.open(p, verify=verify) for name, p in zip(names, paths, strict=True)}
    for index in indexes.values():
        projection(index)  # compute the map once, before the first request
    warmed = warm_encoders(indexes.values())
    app = create_app(
        indexes, api_key=api_key, host=host, port=port or None, allow_hosts=allow_hosts
    )
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if on_ready is not None:
        shown = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
        on_ready(f"serving {len(indexes)} index(es) at http://{shown}:{port}/ ({warmed})")
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
