"""Bench target E: the design we replace, a FastMCP server that introspects every token.

This is the Python walkthrough's architecture, kept as a baseline for
`cargo xtask bench`, not a product: FastMCP from the `mcp` 1.x SDK in
stateless JSON-response mode (`stateless_http=True, json_response=True`), with a
`TokenVerifier` that POSTs each bearer token to the authorization server's
RFC 7662 introspection endpoint (client credentials, HTTP Basic) on EVERY
request, checks `active` (RFC 7662 §2.2), the audience, and maps `scope` to
scopes; FastMCP's own bearer middleware then enforces `mcp:tools`
(`AuthSettings.required_scopes`) and answers 401/403 with its challenges.

It serves one tool, `render_template(name, variables)`, over the SAME template
file our server ships (`templates/<name>.md`: `+++` TOML front matter, then the
body), rendered with Jinja2 configured like our minijinja environment (strict
undefined, no autoescape, trim_blocks + lstrip_blocks, trailing newline kept)
plus the filters minijinja has and Jinja2 lacks (`slug`, `lines`, `split`).
The checks before rendering follow our store's order (unknown variables,
defaults, missing required variables), and the result has our wire shape:
structured `{"text", "filename"}` with its JSON as text content. Differences
that remain are listed in bench/README.md.

Usage:

    python server.py --port 0 --templates-dir templates --template meeting-minutes \\
        --issuer http://localhost:8180/realms/mcp \\
        --introspection-endpoint http://localhost:8180/realms/mcp/protocol/openid-connect/token/introspect \\
        --client-id mcp-server            # secret from INTROSPECTION_CLIENT_SECRET
    python server.py --port 0 --no-auth --templates-dir templates --template meeting-minutes

Once it listens it prints its endpoint, `http://127.0.0.1:PORT/mcp`, as the
first line on stdout, and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import re
import socket
import sys
import tomllib
import unicodedata
from pathlib import Path
from typing import Any, TypedDict

import httpx
import jinja2
import uvicorn
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.shared.auth_utils import check_resource_allowed

logger = logging.getLogger("bench-python-server")

REQUIRED_SCOPE = "mcp:tools"
SECRET_ENV = "INTROSPECTION_CLIENT_SECRET"


# ---- Token verification: RFC 7662 introspection on every request ----


class IntrospectionTokenVerifier(TokenVerifier):
    """Asks the authorization server about every token; caches nothing.

    One `httpx.AsyncClient` is reused for all calls (keep-alive connections to
    the introspection endpoint), which is kinder to this design than the SDK
    example, which opens a client per request.
    """

    def __init__(
        self,
        introspection_endpoint: str,
        client_id: str,
        client_secret: str,
        audience: str | None,
        timeout: float = 5.0,
    ) -> None:
        self.endpoint = introspection_endpoint
        self.audience = audience
        self.auth = httpx.BasicAuth(client_id, client_secret)
        self.client = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            response = await self.client.post(
                self.endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=self.auth,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as e:
            # Never log the token; the exception type is enough to diagnose.
            logger.warning("introspection request failed: %s", type(e).__name__)
            return None
        if response.status_code != 200:
            logger.warning("introspection answered HTTP %d", response.status_code)
            return None
        try:
            data = response.json()
        except ValueError:
            logger.warning("introspection answered invalid JSON")
            return None
        # RFC 7662 §2.2: only `active: true` (a JSON boolean) means usable.
        if data.get("active") is not True:
            return None
        if self.audience and not audience_matches(data.get("aud"), self.audience):
            return None
        scope = data.get("scope")
        return AccessToken(
            token=token,
            client_id=str(data.get("client_id") or data.get("azp") or "unknown"),
            scopes=scope.split() if isinstance(scope, str) else [],
            expires_at=data.get("exp") if isinstance(data.get("exp"), int) else None,
            subject=data.get("sub") if isinstance(data.get("sub"), str) else None,
            claims={"iss": data.get("iss")},
        )


def audience_matches(aud: Any, resource: str) -> bool:
    """RFC 7662 `aud` is a string or an array; one entry must name this server."""
    entries = aud if isinstance(aud, list) else [aud]
    return any(isinstance(a, str) and check_resource_allowed(resource, a) for a in entries)


# ---- Templates: the same files, rendered like our minijinja environment ----


class RenderedTemplate(TypedDict):
    """Our server's `RenderedTemplate`: the document and a file name."""

    text: str
    filename: str | None


def slug(value: Any) -> str:
    """Our `slug` filter: lowercase, keep letters and digits of any script,
    and turn every other run of characters into one `-`, none at the ends."""
    out: list[str] = []
    gap = False
    for c in str(value):
        if c.isalnum():
            if gap and out:
                out.append("-")
            gap = False
            out.append(c.lower())
        else:
            gap = True
    return "".join(out)


def lines(value: Any) -> list[str]:
    """minijinja's `lines` (Rust `str::lines`): split on LF, drop one trailing
    CR per line, no empty last line for a final LF."""
    parts = str(value).split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return [p[:-1] if p.endswith("\r") else p for p in parts]


def split(value: Any, sep: str | None = None, maxsplits: int | None = None) -> list[str]:
    """minijinja's `split`: Python's `str.split` semantics (at most `maxsplits` splits)."""
    if maxsplits is None or maxsplits < 0:
        return str(value).split(sep)
    return str(value).split(sep, maxsplits)


WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(10)}
FORBIDDEN_IN_FILENAME = set('/\\<>:"|?*') | set("\u2044\u2215\u29f5\u29f8\u29f9\uff0f\uff3c")
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
MAX_FILENAME_BYTES = 255


def sanitize_filename(raw: str, template: str) -> str:
    """Our store's file-name sanitiser, ported (store/render.rs)."""
    replaced = "".join(
        "-" if c in FORBIDDEN_IN_FILENAME or unicodedata.category(c) == "Cc" else c
        for c in INVISIBLE.sub("", raw)
    )
    start = re.sub(r"^[\s-]+", "", replaced)
    trimmed = re.sub(r"[\s.]+$", "", re.sub(r"^[\s.-]+", "", start))
    # `.md` alone is an extension without a stem: use the fallback, not `md`.
    stemless = start.startswith(".") and start[1:] == trimmed and "." not in trimmed
    if not trimmed or stemless:
        return f"{template}.md"
    name = trimmed
    if name.split(".")[0].rstrip().lower() in WINDOWS_RESERVED:
        name = "_" + name
    if len(name.encode()) > MAX_FILENAME_BYTES:
        # Keep a short extension, shorten the stem at a character boundary.
        dot = name.rfind(".")
        ext = name[dot:] if dot >= 0 and len(name[dot:].encode()) <= 16 else ""
        stem = name.encode()[: MAX_FILENAME_BYTES - len(ext.encode())].decode(errors="ignore")
        name = stem.rstrip(".") + ext
    return name


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        loader=None,
    )
    env.filters.update(slug=slug, lines=lines, split=split)
    return env


class Template:
    """One template file, parsed and compiled once at start-up."""

    def __init__(self, path: Path, env: jinja2.Environment) -> None:
        self.name = path.stem
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
        head, sep, rest = text.partition("\n")
        if head.rstrip("\r") != "+++" or not sep:
            raise ValueError(f"{path}: line 1 must be `+++`")
        front: list[str] = []
        body_lines = rest.splitlines(keepends=True)
        for i, line in enumerate(body_lines):
            if line.rstrip("\r\n") == "+++":
                body = "".join(body_lines[i + 1 :])
                break
            front.append(line)
        else:
            raise ValueError(f"{path}: the front matter is never closed by `+++`")
        meta = tomllib.loads("".join(front))
        self.variables: list[dict[str, Any]] = meta.get("variables", [])
        self.declared = {v["name"] for v in self.variables}
        self.body = env.from_string(body)
        self.filename = env.from_string(meta["filename"]) if "filename" in meta else None
        self.defaults = {
            v["name"]: env.from_string(v["default"]) for v in self.variables if "default" in v
        }

    def render(self, variables: dict[str, Any]) -> RenderedTemplate:
        # Same order of checks as our store (docs/templates.md, "Rendering").
        unknown = sorted(k for k in variables if k not in self.declared)
        if unknown:
            raise ToolError(f"unknown variables: {', '.join(unknown)}")
        now = datetime.datetime.now().astimezone()
        helpers = {"today": now.strftime("%Y-%m-%d"), "now": now.isoformat(timespec="seconds")}
        context: dict[str, Any] = dict(helpers)
        missing = []
        for spec in self.variables:
            name = spec["name"]
            value = variables.get(name)
            if value is None:
                if name in self.defaults:
                    value = self.defaults[name].render(helpers)
                elif spec.get("required", False):
                    missing.append(name)
                    continue
                else:
                    value = ""
            context[name] = value
        if missing:
            raise ToolError(f"missing required variables: {', '.join(sorted(missing))}")
        try:
            text = self.body.render(context)
            filename = (
                sanitize_filename(self.filename.render(context), self.name) if self.filename else None
            )
        except jinja2.TemplateError as e:
            raise ToolError(f"template error: {e}") from None
        return RenderedTemplate(text=text, filename=filename)


# ---- The server ----


def build_server(
    template: Template, host: str, verifier: TokenVerifier | None, auth: AuthSettings | None
) -> FastMCP:
    mcp = FastMCP(
        "bench-python-file-templates",
        host=host,
        stateless_http=True,
        json_response=True,
        token_verifier=verifier,
        auth=auth,
        log_level="WARNING",
    )

    @mcp.tool(
        description="Render template `name` with `variables` and return the document `text` and a suggested `filename`."
    )
    def render_template(name: str, variables: dict[str, Any] | None = None) -> RenderedTemplate:
        if name != template.name:
            raise ToolError(f"unknown template `{name}`")
        return template.render(variables or {})

    return mcp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: ephemeral)")
    parser.add_argument("--templates-dir", type=Path, default=Path("templates"))
    parser.add_argument("--template", default="meeting-minutes", help="template name (file stem)")
    parser.add_argument("--no-auth", action="store_true", help="no bearer check at all (sanity runs)")
    parser.add_argument("--issuer", help="authorization server issuer URL (AuthSettings.issuer_url)")
    parser.add_argument("--introspection-endpoint", help="RFC 7662 endpoint URL")
    parser.add_argument("--client-id", help="client id for introspection (HTTP Basic)")
    parser.add_argument(
        "--client-secret",
        help=f"client secret for introspection; prefer the {SECRET_ENV} environment variable (argv shows in ps)",
    )
    parser.add_argument(
        "--audience",
        help="required token audience (default: this server's resource URL); '' disables the check",
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    template = Template(args.templates_dir / f"{args.template}.md", environment())

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    # Listen before announcing the URL, so a client that reads it can connect at once.
    sock.listen(1024)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    resource = f"{base}/mcp"

    verifier = None
    auth = None
    if not args.no_auth:
        secret = args.client_secret or os.environ.get(SECRET_ENV)
        missing = [
            flag
            for flag, value in [
                ("--issuer", args.issuer),
                ("--introspection-endpoint", args.introspection_endpoint),
                ("--client-id", args.client_id),
                (f"--client-secret or {SECRET_ENV}", secret),
            ]
            if not value
        ]
        if missing:
            parser.error(f"missing {', '.join(missing)} (or pass --no-auth)")
        audience = resource if args.audience is None else (args.audience or None)
        verifier = IntrospectionTokenVerifier(
            args.introspection_endpoint, args.client_id, secret, audience
        )
        auth = AuthSettings(
            issuer_url=args.issuer,
            resource_server_url=resource,
            required_scopes=[REQUIRED_SCOPE],
            # The verifier checks `aud` itself (above).
            validate_token_resource=False,
        )

    app = build_server(template, "127.0.0.1", verifier, auth).streamable_http_app()
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, lifespan="on"))
    print(resource, flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
