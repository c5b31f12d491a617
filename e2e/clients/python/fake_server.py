"""Test double: a tiny Streamable HTTP MCP server that stands in for ours.

This is NOT the product and proves nothing about it. It exists to keep the
end-to-end clients in this folder honest: `cargo xtask clients selftest` runs
every client (Python SDK, TypeScript SDK, MCP Inspector CLI) against it, so a
client that fails there is broken, and a client that passes there but fails
against our server points at the server.

It speaks real MCP over Streamable HTTP (FastMCP from the `mcp` 1.x SDK), with
the same five tool names as our server, and a deliberately minimal bearer
check in front of `/mcp`:

- no `Authorization` header: 401 with `WWW-Authenticate: Bearer
  resource_metadata="<absolute URL>"` (RFC 6750 §3.1: no `error` code when the
  request carried no credentials; MCP authorization spec: the challenge names
  the RFC 9728 metadata URL);
- any bearer token other than `--token`: 401 with `error="invalid_token"`;
- RFC 9728 §3 metadata at `/.well-known/oauth-protected-resource/mcp`.

The fixed token is a test value, never a secret. Usage:

    python fake_server.py [--port 0] [--token test-token] [--stateless]

Once it listens it prints its endpoint, `http://127.0.0.1:PORT/mcp`, as the first
line on stdout, and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from typing import Any

import uvicorn
from mcp.server.fastmcp import FastMCP
from mcp.types import CallToolResult, TextContent

TEMPLATES: dict[str, dict[str, Any]] = {
    "readme": {
        "description": "A project README",
        "tags": ["docs"],
        "filename": "README.md",
        "body": "# {{ project }}\n\n{{ description }}\n",
    },
    "gitignore-rust": {
        "description": "A .gitignore for a Cargo project",
        "tags": ["rust", "git"],
        "filename": ".gitignore",
        "body": "/target\n",
    },
}

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def build_mcp(stateless: bool) -> FastMCP:
    mcp = FastMCP(
        "fake-file-templates",
        host="127.0.0.1",
        stateless_http=stateless,
        json_response=stateless,
        log_level="WARNING",
    )

    @mcp.tool(description="List templates, optionally filtered by a query and a tag")
    def list_templates(query: str | None = None, tag: str | None = None) -> list[dict[str, Any]]:
        found = []
        for name, t in sorted(TEMPLATES.items()):
            if query and query not in name and query not in t["description"]:
                continue
            if tag and tag not in t["tags"]:
                continue
            found.append({"name": name, "description": t["description"], "tags": t["tags"]})
        return found

    @mcp.tool(description="Get one template by name")
    def get_template(name: str) -> dict[str, Any]:
        if name not in TEMPLATES:
            raise ValueError(f"unknown template `{name}`")
        return {"name": name, **TEMPLATES[name]}

    @mcp.tool(description="Render a template with the given variables")
    def render_template(name: str, variables: dict[str, Any]) -> CallToolResult:
        template = TEMPLATES.get(name)
        if template is None:
            return CallToolResult(
                content=[TextContent(type="text", text=f"unknown template `{name}`")], isError=True
            )
        missing = [v for v in PLACEHOLDER.findall(template["body"]) if v not in variables]
        if missing:
            return CallToolResult(
                content=[TextContent(type="text", text=f"missing variables: {', '.join(missing)}")],
                isError=True,
            )
        text = PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]), template["body"])
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structuredContent={"text": text, "filename": template["filename"]},
        )

    @mcp.tool(description="Stub: save a template (not implemented in the test double)")
    def save_template(name: str, body: str, description: str = "") -> str:
        return f"stub: would save `{name}`"

    @mcp.tool(description="Stub: delete a template (not implemented in the test double)")
    def delete_template(name: str) -> str:
        return f"stub: would delete `{name}`"

    return mcp


class BearerGate:
    """ASGI middleware: the minimal RFC 6750 check in front of `/mcp`."""

    def __init__(self, app: Any, token: str, metadata_url: str, resource: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.metadata_url = metadata_url
        self.resource = resource

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            body = json.dumps(
                {"resource": self.resource, "authorization_servers": [], "bearer_methods_supported": ["header"]}
            ).encode()
            await respond(send, 200, [(b"content-type", b"application/json")], body)
            return
        if path.startswith("/mcp"):
            auth = dict(scope["headers"]).get(b"authorization")
            if auth != self.expected:
                challenge = f'Bearer resource_metadata="{self.metadata_url}"'
                if auth is not None:
                    challenge += ', error="invalid_token"'
                await respond(
                    send,
                    401,
                    [(b"www-authenticate", challenge.encode()), (b"content-type", b"text/plain")],
                    b"unauthorized\n",
                )
                return
        await self.app(scope, receive, send)


async def respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = headers + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: ephemeral)")
    parser.add_argument("--token", default="test-token", help="the one bearer token accepted")
    parser.add_argument(
        "--stateless", action="store_true", help="stateless JSON mode instead of sessions + SSE"
    )
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    # Listen before announcing the URL, so a client that reads it can connect at once.
    sock.listen(128)
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"

    app = BearerGate(
        build_mcp(args.stateless).streamable_http_app(),
        token=args.token,
        metadata_url=f"{base}/.well-known/oauth-protected-resource/mcp",
        resource=f"{base}/mcp",
    )
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    print(f"{base}/mcp", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
