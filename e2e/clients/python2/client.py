"""End-to-end MCP client built on the official Python SDK 2.x (`mcp` 2.3.0).

Drives a Streamable HTTP MCP server the way a third-party client of the
newest SDK generation does: `mcp.Client` over `streamable_http_client`, either
with a bearer token or through the SDK's own OAuth client
(`OAuthClientProvider`: protected-resource metadata, authorization-server
discovery, dynamic client registration, authorization code + PKCE, a 403
`insufficient_scope` step-up). Prints one JSON object to stdout and exits 0
when the scenario holds; prints `client.py: <reason>` to stderr and exits 1
when it does not (2 for a usage error). Tokens never appear in the output.

Scenarios:
  list-tools  connect, list tools, require the five tool names
  render      list-tools, then `render_template` with --name/--variables;
              the result must not be an error and must contain --expect-text
  expect-401  connecting with the token (if any) must fail with HTTP 401
  oauth       no token: the SDK's OAuth client registers itself (RFC 7591),
              logs --user in headlessly (password from $MCP_PASSWORD),
              accepts Keycloak's consent screen, then list-tools and
              render; with --save-name, also `save_template`, which needs a
              scope step-up the SDK performs on the 403; --state FILE keeps
              the registration and tokens for a later run

--mode: `legacy` (initialize handshake, session), `auto` (probe
`server/discover`, fall back to initialize) or `2026-07-28` (no handshake,
no session). Every SDK warning is reported under "warnings"; a scenario fails
when the SDK logs that ending the session failed.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import re
import sys
import urllib.parse
from typing import Any, NoReturn

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

EXPECTED_TOOLS = {"list_templates", "get_template", "render_template", "save_template", "delete_template"}


class ScenarioFailed(Exception):
    """The server (or the authorization server) answered, but not as the scenario requires."""


def fail(message: str) -> NoReturn:
    print(f"client.py: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside `exc` (the SDK raises from task groups)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


class Warnings(logging.Handler):
    """Collects the SDK's warnings (for example "Session termination failed: 202")."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class FileStorage:
    """The SDK's `TokenStorage`: in memory, and in the JSON file `path` when
    given, so a second run continues with the first run's registration and
    tokens (as a desktop client does across restarts)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        if path and os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            if saved.get("tokens"):
                self.tokens = OAuthToken.model_validate(saved["tokens"])
            if saved.get("client_info"):
                self.client_info = OAuthClientInformationFull.model_validate(saved["client_info"])

    def _save(self) -> None:
        if not self.path:
            return
        saved = {
            "tokens": self.tokens.model_dump(mode="json") if self.tokens else None,
            "client_info": self.client_info.model_dump(mode="json") if self.client_info else None,
        }
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(saved, f)

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self._save()

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info
        self._save()


class HeadlessBrowser:
    """Plays the user at Keycloak's login and consent pages.

    Keycloak marks its login cookies `Secure` even on http://localhost; a
    browser still sends them to localhost, an HTTP client library does not.
    So this keeps its own cookie jar and sends every cookie back to the
    authorization server's origin, as a browser on localhost would.
    """

    def __init__(self, user: str, password: str, redirect_uri: str) -> None:
        self.user = user
        self.password = password
        self.redirect_uri = redirect_uri
        self.cookies: dict[str, str] = {}
        self.pages: list[str] = []
        self.result: AuthorizationCodeResult | None = None

    def _remember(self, response: httpx2.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)

    async def _send(self, http: httpx2.AsyncClient, method: str, url: str, data: dict[str, str] | None = None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        response = await http.request(method, url, data=data, headers=headers)
        self._remember(response)
        return response

    async def authorize(self, authorization_url: str) -> None:
        """Follows the authorization URL to the redirect back to the client."""
        async with httpx2.AsyncClient(timeout=30.0, follow_redirects=False) as http:
            response = await self._send(http, "GET", authorization_url)
            for _ in range(10):
                if response.status_code in (301, 302, 303, 307):
                    location = urllib.parse.urljoin(str(response.url), response.headers["location"])
                    if location.startswith(self.redirect_uri):
                        self._finish(location)
                        return
                    response = await self._send(http, "GET", location)
                    continue
                if response.status_code != 200:
                    raise ScenarioFailed(
                        f"authorization server page: HTTP {response.status_code}: {page_message(response.text)}"
                    )
                body = response.text
                form = find_form(body)
                if form is None:
                    raise ScenarioFailed(f"authorization server page without a form: {page_message(body)}")
                action, fields = form
                if "password" in body and 'name="username"' in body:
                    self.pages.append("login")
                    fields.update({"username": self.user, "password": self.password, "credentialId": ""})
                elif 'name="accept"' in body:
                    self.pages.append("consent")
                    fields["accept"] = "Yes"
                else:
                    raise ScenarioFailed(f"unexpected authorization server page: {page_message(body)}")
                response = await self._send(http, "POST", urllib.parse.urljoin(str(response.url), action), fields)
            raise ScenarioFailed("authorization did not reach the redirect URI within 10 steps")

    def _finish(self, location: str) -> None:
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        if "error" in params:
            raise ScenarioFailed(
                f"authorization server refused: {params['error']}: {params.get('error_description', '')}"
            )
        if "code" not in params:
            raise ScenarioFailed("redirect without a code")
        self.result = AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    async def callback(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise ScenarioFailed("the authorization flow produced no code")
        result, self.result = self.result, None
        return result


def find_form(body: str) -> tuple[str, dict[str, str]] | None:
    """The first form's action and its hidden inputs."""
    match = re.search(r"<form\b[^>]*\baction=\"([^\"]*)\"", body)
    if match is None:
        return None
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r"<input[^>]*type=\"hidden\"[^>]*name=\"([^\"]*)\"[^>]*value=\"([^\"]*)\"", body
        )
    }
    return html.unescape(match.group(1)), fields


def page_message(body: str) -> str:
    """The message of a Keycloak error page, or the page's start."""
    for pattern in (r'id="kc-error-message"[^>]*>\s*<p[^>]*>([^<]*)', r"<title>([^<]*)</title>"):
        match = re.search(pattern, body)
        if match:
            return html.unescape(match.group(1)).strip()
    return body[:200]


def tool_text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def exercise(client: Client, args: argparse.Namespace, out: dict[str, Any]) -> None:
    out["protocol_version"] = client.protocol_version
    if args.scenario == "expect-401":
        return
    tools = await client.list_tools()
    names = sorted(t.name for t in tools.tools)
    missing = EXPECTED_TOOLS - set(names)
    if missing:
        raise ScenarioFailed(f"tools/list lacks {sorted(missing)}; server offers {names}")
    out["tools"] = names
    if args.name:
        result = await client.call_tool("render_template", {"name": args.name, "variables": args.variables})
        text = tool_text(result)
        if result.is_error:
            raise ScenarioFailed(f"render_template returned an error: {text}")
        if args.expect_text is not None and args.expect_text not in text:
            raise ScenarioFailed(f"render_template text lacks {args.expect_text!r}: {text!r}")
        out["text"] = text
        if result.structured_content is not None:
            out["structured_content"] = result.structured_content
    if args.save_name:
        result = await client.call_tool(
            "save_template",
            {
                "name": args.save_name,
                "title": "Saved by client.py",
                "description": "Saved through the Python SDK 2.x OAuth client",
                "tags": ["e2e"],
                "variables": [],
                "body": args.save_content,
            },
        )
        text = tool_text(result)
        if result.is_error:
            raise ScenarioFailed(f"save_template returned an error: {text}")
        out["saved"] = text


async def run(args: argparse.Namespace, token: str | None, warnings: Warnings) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": args.scenario, "client": "python-sdk-2", "mode": args.mode}
    browser: HeadlessBrowser | None = None
    auth: httpx2.Auth | None = None
    headers = None
    if args.scenario == "oauth":
        password = os.environ.get("MCP_PASSWORD")
        if not password:
            raise ScenarioFailed("the oauth scenario needs $MCP_PASSWORD")
        browser = HeadlessBrowser(args.user, password, args.redirect_uri)
        storage = FileStorage(args.state)
        auth = OAuthClientProvider(
            server_url=args.url,
            client_metadata=OAuthClientMetadata(
                client_name=args.client_name,
                redirect_uris=[args.redirect_uri],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=browser.authorize,
            callback_handler=browser.callback,
        )
    elif token:
        headers = {"Authorization": f"Bearer {token}"}
    # SDK 2.x turns an HTTP error into a JSON-RPC error (-32603) without the
    # status, so the statuses are recorded here, as they arrive.
    refusals: list[httpx2.Response] = []

    async def record(response: httpx2.Response) -> None:
        if response.status_code in (401, 403):
            refusals.append(response)

    try:
        with anyio.fail_after(args.timeout):
            async with create_mcp_http_client(headers=headers, auth=auth) as http:
                http.event_hooks = {"response": [record]}
                transport = streamable_http_client(args.url, http_client=http)
                async with Client(transport, mode=args.mode, raise_exceptions=True) as client:
                    await exercise(client, args, out)
    except Exception as exc:
        statuses = [
            e.response.status_code for e in leaves(exc) if isinstance(e, httpx2.HTTPStatusError)
        ]
        failed = [e for e in leaves(exc) if isinstance(e, ScenarioFailed)]
        if args.scenario == "expect-401" and (refusals or statuses):
            response = refusals[0] if refusals else None
            status = response.status_code if response is not None else statuses[0]
            if status != 401:
                raise ScenarioFailed(f"expected HTTP 401, got {status}") from None
            out.update(status=401, www_authenticate=response.headers.get("www-authenticate") if response else None)
            return out
        if failed:
            raise failed[0] from None
        status = f" (HTTP {statuses[0]})" if statuses else ""
        raise ScenarioFailed(f"MCP exchange failed{status}: {describe(exc)}") from None
    if args.scenario == "expect-401":
        raise ScenarioFailed("expected HTTP 401, but the server accepted the connection")
    if browser is not None:
        out["authorization_pages"] = browser.pages
        client_info = storage.client_info
        out["client_name"] = client_info.client_name if client_info else None
        out["granted_scope"] = storage.tokens.scope if storage.tokens else None
    out["warnings"] = warnings.messages
    terminated = [m for m in warnings.messages if "termination failed" in m.lower()]
    if terminated:
        raise ScenarioFailed(f"the SDK could not end its session: {terminated[0]}")
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="MCP end-to-end client (Python SDK 2.x)", formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=["list-tools", "render", "expect-401", "oauth"])
    parser.add_argument("--url", required=True, help="the server's MCP endpoint, e.g. http://127.0.0.1:PORT/mcp")
    parser.add_argument("--token", help="bearer token (default: $MCP_TOKEN; prefer the env var, argv is visible)")
    parser.add_argument("--mode", default="auto", choices=["legacy", "auto", "2026-07-28"])
    parser.add_argument("--name", help="template name to render")
    parser.add_argument("--variables", default="{}", help="JSON object of template variables")
    parser.add_argument("--expect-text", help="the rendered text must contain this")
    parser.add_argument("--user", default="alice", help="`oauth`: the user to log in")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:33418/callback", help="`oauth`: loopback redirect")
    parser.add_argument("--client-name", default="mcp-file-templates e2e (python-sdk-2)", help="`oauth`: RFC 7591 client_name")
    parser.add_argument("--save-name", help="`oauth`: also save this template (needs templates:write)")
    parser.add_argument("--save-content", default="Saved by client.py", help="`oauth`: the template body to save")
    parser.add_argument("--state", help="`oauth`: keep the registration and tokens in this file (mode 0600)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole scenario")
    args = parser.parse_args()
    try:
        args.variables = json.loads(args.variables)
    except json.JSONDecodeError as e:
        parser.error(f"--variables is not JSON: {e}")
    if not isinstance(args.variables, dict):
        parser.error("--variables must be a JSON object")
    if args.scenario == "render" and not args.name:
        parser.error("`render` needs --name")
    return args


def main() -> None:
    args = parse_args()
    token = args.token or os.environ.get("MCP_TOKEN") or None
    if token is None and args.scenario in ("list-tools", "render"):
        print("client.py: no token: pass --token or set MCP_TOKEN", file=sys.stderr)
        sys.exit(2)
    warnings = Warnings()
    logging.getLogger().addHandler(warnings)
    try:
        out = anyio.run(run, args, token, warnings)
    except ScenarioFailed as e:
        fail(str(e))
    except TimeoutError:
        fail(f"scenario `{args.scenario}` did not finish within {args.timeout} s")
    print(json.dumps(out, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
