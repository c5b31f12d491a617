"""STUB: a tiny RFC 7662 introspection endpoint for checking server.py's verifier.

This is NOT Keycloak and its figures mean nothing for the bench: it exists
only to prove, without Keycloak, that target E really introspects every
request and that its 401/403 paths work. The bench itself runs target E
against real Keycloak.

- `POST /introspect`: HTTP Basic client authentication (RFC 7662 §2.1) with
  `--client-id` / `--client-secret` (test values), else 401. Form field
  `token`: a token `valid-<user>` is active with `scope` `--scope`,
  `aud` `--audience`, `sub` `<user>`; `noscope-<user>` is active without
  `mcp:tools`; anything else is `{"active": false}` (RFC 7662 §2.2).
- `GET /stats`: `{"introspections": N}`, the number of POSTs so far, so a
  run can compare it with the load generator's request count.

Usage:

    python introspection_stub.py [--port 0] --audience http://127.0.0.1:PORT/mcp

It prints its base URL (`http://127.0.0.1:PORT`) as the first line on stdout.
"""

from __future__ import annotations

import argparse
import base64
import socket
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def build_app(client_id: str, client_secret: str, audience: str, scope: str, issuer: str) -> Starlette:
    expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    count = 0

    async def introspect(request: Request) -> JSONResponse:
        nonlocal count
        count += 1
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = (await request.form()).get("token")
        if not isinstance(token, str):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        now = int(time.time())
        for prefix, granted in (("valid-", scope), ("noscope-", "openid profile")):
            if token.startswith(prefix):
                return JSONResponse(
                    {
                        "active": True,
                        "iss": issuer,
                        "sub": token.removeprefix(prefix),
                        "aud": audience,
                        "client_id": "bench-client",
                        "scope": granted,
                        "exp": now + 300,
                        "iat": now,
                        "token_type": "Bearer",
                    }
                )
        return JSONResponse({"active": False})

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse({"introspections": count})

    return Starlette(
        routes=[Route("/introspect", introspect, methods=["POST"]), Route("/stats", stats)]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-id", default="bench-rs")
    parser.add_argument("--client-secret", default="stub-secret", help="a test value, not a secret")
    parser.add_argument("--audience", required=True, help="the `aud` of active tokens")
    parser.add_argument("--scope", default="openid mcp:tools")
    parser.add_argument("--issuer", default="http://127.0.0.1/stub")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)
    app = build_app(args.client_id, args.client_secret, args.audience, args.scope, args.issuer)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
