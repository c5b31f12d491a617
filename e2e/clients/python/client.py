"""End-to-end MCP client built on the official Python SDK (`mcp` 1.x).

Drives a Streamable HTTP MCP server the way a third-party client does:
`streamable_http_client` + `ClientSession`, bearer token in the
`Authorization` header. Prints one JSON object to stdout and exits 0 when the
scenario holds; prints `client.py: <reason>` to stderr and exits 1 when it does
not (2 for a usage error). The token never appears in the output.

Scenarios:
  list-tools  initialize, list tools, require the five tool names
  lifecycle   list-tools, then save_template --name, render it, delete it
  render      list-tools, then call `render_template` with --name and
              --variables (a JSON object); the result must not be an error,
              and must contain --expect-text when given
  expect-401  connecting must fail with HTTP 401 (the bearer token, if any,
              is sent; omit it to test the no-credentials case); reports the
              `WWW-Authenticate` challenge

Usage:
  MCP_TOKEN=... python client.py --url http://127.0.0.1:PORT/mcp render \\
      --name readme --variables '{"project": "x", "description": "y"}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn

import anyio
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = {"list_templates", "get_template", "render_template", "save_template", "delete_template"}


class ScenarioFailed(Exception):
    """The server answered, but not as the scenario requires."""


def fail(message: str) -> NoReturn:
    print(f"client.py: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside `exc`: the SDK raises from its task groups, so
    errors arrive wrapped in (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


async def list_tools(session: ClientSession) -> list[str]:
    tools = await session.list_tools()
    names = sorted(t.name for t in tools.tools)
    missing = EXPECTED_TOOLS - set(names)
    if missing:
        raise ScenarioFailed(f"tools/list lacks {sorted(missing)}; server offers {names}")
    return names


async def connected(args: argparse.Namespace, token: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    # The SDK's documented way to set headers: pass a configured httpx client
    # (the older `streamablehttp_client(url, headers=...)` wrapper is deprecated
    # in mcp 1.30 and does exactly this).
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30.0, read=300.0)) as http:
        async with streamable_http_client(args.url, http_client=http) as (read, write, _session_id):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out: dict[str, Any] = {
                    "scenario": args.scenario,
                    "client": "python-sdk",
                    "server": init.serverInfo.name,
                    "protocol_version": init.protocolVersion,
                }
                if args.scenario == "expect-401":
                    return out
                out["tools"] = await list_tools(session)
                if args.scenario == "render":
                    result = await session.call_tool(
                        "render_template", {"name": args.name, "variables": args.variables}
                    )
                    text = "".join(c.text for c in result.content if c.type == "text")
                    if result.isError:
                        raise ScenarioFailed(f"render_template returned an error: {text}")
                    if args.expect_text is not None and args.expect_text not in text:
                        raise ScenarioFailed(f"render_template text lacks {args.expect_text!r}: {text!r}")
                    out["text"] = text
                    out["structured_content"] = result.structuredContent
                if args.scenario == "lifecycle":
                    out.update(await lifecycle(session, args.name))
                return out


def tool_text(result: Any) -> str:
    return "".join(c.text for c in result.content if c.type == "text")


async def lifecycle(session: ClientSession, name: str) -> dict[str, Any]:
    """save_template `name`, render it, delete it with the saved version."""
    saved = await session.call_tool(
        "save_template",
        {
            "name": name,
            "title": "Lifecycle",
            "description": "Saved by client.py",
            "variables": [{"name": "who", "required": True}],
            "body": "Hello {{ who }} from the Python SDK",
        },
    )
    if saved.isError:
        raise ScenarioFailed(f"save_template returned an error: {tool_text(saved)}")
    version = (saved.structuredContent or {}).get("version")
    if not version:
        raise ScenarioFailed(f"save_template returned no version: {saved.structuredContent}")
    rendered = await session.call_tool("render_template", {"name": name, "variables": {"who": "Ada"}})
    text = tool_text(rendered)
    if rendered.isError or (rendered.structuredContent or {}).get("text") != "Hello Ada from the Python SDK":
        raise ScenarioFailed(f"render_template of the saved template: {text}")
    deleted = await session.call_tool("delete_template", {"name": name, "expected_version": version})
    if deleted.isError or not (deleted.structuredContent or {}).get("deleted"):
        raise ScenarioFailed(f"delete_template returned: {tool_text(deleted)}")
    return {"saved_version": version, "deleted": True}


async def run(args: argparse.Namespace, token: str | None) -> dict[str, Any]:
    with anyio.fail_after(args.timeout):
        try:
            out = await connected(args, token)
        except Exception as exc:  # the SDK wraps HTTP errors in exception groups
            found = [e for e in leaves(exc) if isinstance(e, httpx.HTTPStatusError)]
            if args.scenario == "expect-401" and found:
                response = found[0].response
                if response.status_code != 401:
                    raise ScenarioFailed(f"expected HTTP 401, got {response.status_code}") from None
                return {
                    "scenario": args.scenario,
                    "client": "python-sdk",
                    "status": 401,
                    "www_authenticate": response.headers.get("www-authenticate"),
                }
            failed = [e for e in leaves(exc) if isinstance(e, ScenarioFailed)]
            if failed:
                raise failed[0] from None
            status = f" (HTTP {found[0].response.status_code})" if found else ""
            raise ScenarioFailed(f"MCP exchange failed{status}: {describe(exc)}") from None
    if args.scenario == "expect-401":
        raise ScenarioFailed("expected HTTP 401, but the server accepted the connection")
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="MCP end-to-end client (Python SDK)", formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=["list-tools", "render", "lifecycle", "expect-401"])
    parser.add_argument("--url", required=True, help="the server's MCP endpoint, e.g. http://127.0.0.1:PORT/mcp")
    parser.add_argument("--token", help="bearer token (default: $MCP_TOKEN; prefer the env var, argv is visible)")
    parser.add_argument("--name", help="template name for `render`")
    parser.add_argument("--variables", default="{}", help="JSON object of template variables for `render`")
    parser.add_argument("--expect-text", help="`render`: the rendered text must contain this")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole scenario")
    args = parser.parse_args()
    try:
        args.variables = json.loads(args.variables)
    except json.JSONDecodeError as e:
        parser.error(f"--variables is not JSON: {e}")
    if not isinstance(args.variables, dict):
        parser.error("--variables must be a JSON object")
    if args.scenario in ("render", "lifecycle") and not args.name:
        parser.error(f"`{args.scenario}` needs --name")
    return args


def main() -> None:
    args = parse_args()
    token = args.token or os.environ.get("MCP_TOKEN") or None
    if token is None and args.scenario != "expect-401":
        print("client.py: no token: pass --token or set MCP_TOKEN", file=sys.stderr)
        sys.exit(2)
    try:
        out = anyio.run(run, args, token)
    except ScenarioFailed as e:
        fail(str(e))
    except TimeoutError:
        fail(f"scenario `{args.scenario}` did not finish within {args.timeout} s")
    print(json.dumps(out, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
