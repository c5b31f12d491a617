#!/usr/bin/env node
// End-to-end MCP client built on the official TypeScript SDK
// (@modelcontextprotocol/sdk): `Client` + `StreamableHTTPClientTransport`, the
// bearer token in the `Authorization` header via `requestInit.headers`, or
// (scenario `oauth`) the SDK's own OAuth client: an `OAuthClientProvider` as
// the transport's `authProvider`, `auth()` for protected-resource metadata
// (RFC 9728), authorization-server discovery, dynamic client registration
// (RFC 7591) and the authorization code flow with PKCE.
//
// Prints one JSON object to stdout and exits 0 when the scenario holds; prints
// `client.mjs: <reason>` to stderr and exits 1 when it does not (2 for a usage
// error). Tokens and the password never appear in the output.
//
// Scenarios (as ../python/client.py; `oauth` as ../python2/client.py):
//   list-tools  initialize, list tools, require the five tool names
//   render      list-tools, then call `render_template` with --name and
//               --variables (a JSON object); the result must not be an error,
//               and must contain --expect-text when given; then end the
//               session with DELETE
//   expect-401  connecting must fail with HTTP 401 (the bearer token, if any,
//               is sent; omit it to test the no-credentials case); reports the
//               `WWW-Authenticate` challenge
//   oauth       no token (as ../python2/client.py): the SDK's OAuth client
//               registers itself (RFC 7591, public client, PKCE S256), logs
//               --user in headlessly (password from $MCP_PASSWORD), accepts
//               Keycloak's consent screen, then list-tools and, with --name,
//               render; with --save-name, also `save_template`, which needs
//               the scope step-up the server asks for with a 403
//               `insufficient_scope`; --state FILE keeps the registration
//               and tokens (mode 0600) for a later run. SDK 1.32.2 answers
//               the 403 itself only with `auth()`, i.e. a refresh, which
//               cannot widen the scope, and gives up on the second 403; the
//               client then drops the tokens and runs `auth()` with the
//               challenge's scope (a new authorization, consent for the new
//               scope), reported as "step_up": "client" ("sdk" should the
//               SDK start that authorization itself, "none" when the token
//               already had the scope). Keycloak refuses the step-up with
//               `invalid_scope` unless an administrator has added
//               templates:write to the registered client (docs/keycloak.md)
//
// Usage:
//   MCP_TOKEN=... node client.mjs --url http://127.0.0.1:PORT/mcp render \
//       --name readme --variables '{"project": "x", "description": "y"}'
//   MCP_PASSWORD=... node client.mjs --url http://localhost:PORT/mcp oauth \
//       --user alice --name readme --variables '{"project": "x", "summary": "y"}'

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  auth,
  extractWWWAuthenticateParams,
  UnauthorizedError,
} from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const EXPECTED_TOOLS = [
  "delete_template",
  "get_template",
  "list_templates",
  "render_template",
  "save_template",
];
const SCENARIOS = ["list-tools", "render", "lifecycle", "expect-401", "oauth"];

class ScenarioFailed extends Error {}

function usage(message) {
  process.stderr.write(
    `client.mjs: ${message}\n` +
      "usage: client.mjs {list-tools|render|lifecycle|expect-401|oauth} --url URL [--token TOKEN] " +
      "[--name NAME] [--variables JSON] [--expect-text TEXT] [--timeout SECONDS] " +
      "[--user USER] [--redirect-uri URI] [--client-name NAME] [--state FILE] " +
      "[--save-name NAME] [--save-content TEXT]\n",
  );
  process.exit(2);
}

function fail(message) {
  process.stderr.write(`client.mjs: ${message}\n`);
  process.exit(1);
}

function parse() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        name: { type: "string" },
        variables: { type: "string", default: "{}" },
        "expect-text": { type: "string" },
        timeout: { type: "string", default: "30" },
        user: { type: "string", default: "alice" },
        "redirect-uri": { type: "string", default: "http://127.0.0.1:33418/callback" },
        "client-name": { type: "string", default: "mcp-file-templates e2e (typescript-sdk)" },
        "save-name": { type: "string" },
        "save-content": { type: "string", default: "Saved by client.mjs" },
        state: { type: "string" },
      },
    });
  } catch (e) {
    usage(e.message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1 || !SCENARIOS.includes(positionals[0])) {
    usage(`give exactly one scenario of ${SCENARIOS.join(", ")}`);
  }
  const scenario = positionals[0];
  if (!values.url) usage("--url is required");
  let variables;
  try {
    variables = JSON.parse(values.variables);
  } catch (e) {
    usage(`--variables is not JSON: ${e.message}`);
  }
  if (variables === null || typeof variables !== "object" || Array.isArray(variables)) {
    usage("--variables must be a JSON object");
  }
  if ((scenario === "render" || scenario === "lifecycle") && !values.name) {
    usage(`\`${scenario}\` needs --name`);
  }
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) usage("--timeout must be a positive number of seconds");
  const token = values.token || process.env.MCP_TOKEN || undefined;
  if (!token && scenario !== "expect-401" && scenario !== "oauth") {
    usage("no token: pass --token or set MCP_TOKEN");
  }
  if (!URL.canParse(values["redirect-uri"])) usage("--redirect-uri is not a URL");
  return {
    scenario,
    url: new URL(values.url),
    token,
    name: values.name,
    variables,
    expectText: values["expect-text"],
    timeoutMs: timeout * 1000,
    user: values.user,
    redirectUri: values["redirect-uri"],
    clientName: values["client-name"],
    saveName: values["save-name"],
    saveContent: values["save-content"],
    state: values.state,
  };
}

/** `tools/list`, which must offer the five tools; their names, sorted. */
async function listTools(client) {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  const missing = EXPECTED_TOOLS.filter((n) => !names.includes(n));
  if (missing.length > 0) {
    throw new ScenarioFailed(
      `tools/list lacks ${JSON.stringify(missing)}; server offers ${JSON.stringify(names)}`,
    );
  }
  return names;
}

function toolText(result) {
  return (result.content ?? [])
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("");
}

/** `render_template` with --name and --variables; not an error, and with --expect-text. */
async function render(client, args) {
  const result = await client.callTool({
    name: "render_template",
    arguments: { name: args.name, variables: args.variables },
  });
  const text = toolText(result);
  if (result.isError) throw new ScenarioFailed(`render_template returned an error: ${text}`);
  if (args.expectText !== undefined && !text.includes(args.expectText)) {
    throw new ScenarioFailed(
      `render_template text lacks ${JSON.stringify(args.expectText)}: ${JSON.stringify(text)}`,
    );
  }
  return { text, structuredContent: result.structuredContent ?? null };
}

/** `save_template` --name, render it, delete it with the saved version. */
async function lifecycle(client, name) {
  const saved = await client.callTool({
    name: "save_template",
    arguments: {
      name,
      title: "Lifecycle",
      description: "Saved by client.mjs",
      variables: [{ name: "who", required: true }],
      body: "Hello {{ who }} from the TypeScript SDK",
    },
  });
  if (saved.isError) throw new ScenarioFailed(`save_template returned an error: ${toolText(saved)}`);
  const version = saved.structuredContent?.version;
  if (!version) throw new ScenarioFailed(`save_template returned no version: ${toolText(saved)}`);
  const rendered = await client.callTool({
    name: "render_template",
    arguments: { name, variables: { who: "Ada" } },
  });
  if (rendered.isError || rendered.structuredContent?.text !== "Hello Ada from the TypeScript SDK") {
    throw new ScenarioFailed(`render_template of the saved template: ${toolText(rendered)}`);
  }
  const deleted = await client.callTool({
    name: "delete_template",
    arguments: { name, expected_version: version },
  });
  if (deleted.isError || deleted.structuredContent?.deleted !== true) {
    throw new ScenarioFailed(`delete_template returned: ${toolText(deleted)}`);
  }
  return { saved_version: version, deleted: true };
}

async function runScenario(args) {
  // The transport turns a 401 into `StreamableHTTPError` (code 401) and drops
  // the response; this fetch wrapper keeps the last challenge so the
  // `expect-401` scenario can report it.
  let lastChallenge = null;
  const recordingFetch = async (input, init) => {
    const response = await fetch(input, init);
    if (response.status === 401) lastChallenge = response.headers.get("www-authenticate");
    return response;
  };
  const transport = new StreamableHTTPClientTransport(args.url, {
    fetch: recordingFetch,
    requestInit: args.token ? { headers: { Authorization: `Bearer ${args.token}` } } : undefined,
  });
  const client = new Client({ name: "mcp-file-templates-e2e", version: "0.0.0" });

  try {
    await client.connect(transport);
  } catch (e) {
    if (args.scenario === "expect-401" && e instanceof StreamableHTTPError) {
      if (e.code !== 401) throw new ScenarioFailed(`expected HTTP 401, got ${e.code}: ${e.message}`);
      return {
        scenario: args.scenario,
        client: "typescript-sdk",
        status: 401,
        www_authenticate: lastChallenge,
      };
    }
    throw e;
  }

  try {
    if (args.scenario === "expect-401") {
      throw new ScenarioFailed("expected HTTP 401, but the server accepted the connection");
    }
    const out = {
      scenario: args.scenario,
      client: "typescript-sdk",
      server: client.getServerVersion()?.name ?? null,
      protocol_version: transport.protocolVersion ?? null,
    };
    out.tools = await listTools(client);
    if (args.scenario === "render") {
      const result = await render(client, args);
      out.text = result.text;
      out.structured_content = result.structuredContent;
      // End the session as a well-behaved client does (DELETE; a 405 from a
      // session-less server is accepted by the SDK).
      await transport.terminateSession();
    }
    if (args.scenario === "lifecycle") {
      Object.assign(out, await lifecycle(client, args.name));
      await transport.terminateSession();
    }
    return out;
  } finally {
    await client.close();
  }
}

// --- scenario `oauth` --------------------------------------------------------

/**
 * The SDK's `OAuthClientProvider`: client information, tokens and the PKCE
 * verifier in memory, and (with --state FILE) the client information and
 * tokens in a JSON file (mode 0600), so a second run continues with the first
 * run's registration and tokens, as a desktop client does across restarts.
 * `redirectToAuthorization` hands the authorization URL to the headless
 * browser, which plays the user; the code it brings back goes to
 * `transport.finishAuth`.
 */
class StateFileProvider {
  constructor(args, browser) {
    this.path = args.state;
    this.browser = browser;
    this._redirectUrl = args.redirectUri;
    this._clientMetadata = {
      client_name: args.clientName,
      redirect_uris: [args.redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
    this._clientInformation = undefined;
    this._tokens = undefined;
    this._codeVerifier = undefined;
    if (this.path && existsSync(this.path)) {
      let saved;
      try {
        saved = JSON.parse(readFileSync(this.path, "utf8"));
      } catch (e) {
        throw new ScenarioFailed(`--state ${this.path} is not readable JSON: ${e.message}`);
      }
      this._tokens = saved.tokens ?? undefined;
      this._clientInformation = saved.client_info ?? undefined;
    }
  }

  _save() {
    if (!this.path) return;
    const saved = { tokens: this._tokens ?? null, client_info: this._clientInformation ?? null };
    writeFileSync(this.path, JSON.stringify(saved), { mode: 0o600 });
    chmodSync(this.path, 0o600); // `mode` applies only when the file is created
  }

  get redirectUrl() {
    return this._redirectUrl;
  }

  get clientMetadata() {
    return this._clientMetadata;
  }

  state() {
    this.browser.expectedState = randomBytes(16).toString("base64url");
    return this.browser.expectedState;
  }

  clientInformation() {
    return this._clientInformation;
  }

  saveClientInformation(clientInformation) {
    this._clientInformation = clientInformation;
    this._save();
  }

  tokens() {
    return this._tokens;
  }

  saveTokens(tokens) {
    this._tokens = tokens;
    this._save();
  }

  async redirectToAuthorization(authorizationUrl) {
    await this.browser.authorize(authorizationUrl);
  }

  saveCodeVerifier(codeVerifier) {
    this._codeVerifier = codeVerifier;
  }

  codeVerifier() {
    if (!this._codeVerifier) throw new ScenarioFailed("no PKCE code verifier was saved");
    return this._codeVerifier;
  }

  invalidateCredentials(what) {
    if (what === "all" || what === "client") this._clientInformation = undefined;
    if (what === "all" || what === "tokens") this._tokens = undefined;
    if (what === "all" || what === "verifier") this._codeVerifier = undefined;
    this._save();
  }
}

/**
 * Plays the user at Keycloak's login and consent pages with plain `fetch`.
 *
 * Keycloak marks its login cookies `Secure` even on http://localhost; a
 * browser still sends them to localhost, Node's `fetch` keeps no cookies at
 * all. So this keeps its own cookie jar and sends every cookie back to the
 * authorization server's origin, as a browser on localhost would. Redirects
 * are followed by hand (`redirect: "manual"`) up to the redirect URI, where
 * nothing listens: the code is taken from the `Location`.
 */
class HeadlessBrowser {
  constructor(user, password, redirectUri) {
    this.user = user;
    this.password = password;
    this.redirectUri = new URL(redirectUri);
    this.cookies = new Map();
    this.pages = [];
    this.expectedState = undefined;
    this.code = undefined;
    this.origin = undefined;
  }

  _remember(response) {
    for (const header of response.headers.getSetCookie()) {
      const eq = header.indexOf("=");
      if (eq < 0) continue;
      const name = header.slice(0, eq).trim();
      const value = header.slice(eq + 1).split(";", 1)[0].trim();
      if (value) this.cookies.set(name, value);
      else this.cookies.delete(name);
    }
  }

  async _send(method, url, fields) {
    const headers = {};
    if (url.origin === this.origin && this.cookies.size > 0) {
      headers.Cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    }
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: fields ? new URLSearchParams(fields) : undefined,
        redirect: "manual",
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      throw new ScenarioFailed(`authorization server unreachable at ${url.origin}: ${e.message}`);
    }
    if (url.origin === this.origin) this._remember(response);
    return response;
  }

  /** Follows the authorization URL to the redirect back to the client. */
  async authorize(authorizationUrl) {
    this.code = undefined;
    let url = new URL(authorizationUrl);
    this.origin = url.origin;
    let response = await this._send("GET", url);
    for (let step = 0; step < 10; step++) {
      if ([301, 302, 303, 307, 308].includes(response.status)) {
        const location = response.headers.get("location");
        if (!location) throw new ScenarioFailed(`HTTP ${response.status} without a Location at ${url.href}`);
        await response.body?.cancel();
        url = new URL(location, url);
        if (url.origin === this.redirectUri.origin && url.pathname === this.redirectUri.pathname) {
          this._finish(url);
          return;
        }
        response = await this._send("GET", url);
        continue;
      }
      const body = await response.text();
      if (response.status !== 200) {
        throw new ScenarioFailed(
          `authorization server page: HTTP ${response.status}: ${pageMessage(body)}`,
        );
      }
      const form = findForm(body);
      if (form === null) {
        throw new ScenarioFailed(`authorization server page without a form: ${pageMessage(body)}`);
      }
      const { action, fields } = form;
      if (body.includes("password") && body.includes('name="username"')) {
        if (this.pages.at(-1) === "login") {
          throw new ScenarioFailed(`login as ${this.user} refused: ${pageMessage(body)}`);
        }
        this.pages.push("login");
        Object.assign(fields, { username: this.user, password: this.password, credentialId: "" });
      } else if (body.includes('name="accept"')) {
        this.pages.push("consent");
        fields.accept = "Yes";
      } else {
        throw new ScenarioFailed(`unexpected authorization server page: ${pageMessage(body)}`);
      }
      url = new URL(action, url);
      response = await this._send("POST", url, fields);
    }
    throw new ScenarioFailed("authorization did not reach the redirect URI within 10 steps");
  }

  _finish(url) {
    const params = url.searchParams;
    if (params.has("error")) {
      throw new ScenarioFailed(
        `authorization server refused: ${params.get("error")}: ${params.get("error_description") ?? ""}`,
      );
    }
    if (!params.has("code")) throw new ScenarioFailed("redirect without a code");
    if (this.expectedState !== undefined && params.get("state") !== this.expectedState) {
      throw new ScenarioFailed("redirect with a state that is not the one sent");
    }
    this.code = params.get("code");
  }

  /** The code of the last authorization, once. */
  takeCode() {
    if (this.code === undefined) throw new ScenarioFailed("the authorization flow produced no code");
    const code = this.code;
    this.code = undefined;
    return code;
  }
}

function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos|#39);/gi, (whole, entity) => {
    const e = entity.toLowerCase();
    if (e.startsWith("#x")) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[e] ?? whole;
  });
}

/** The first form's action and its hidden inputs, or null. */
function findForm(body) {
  const match = /<form\b[^>]*\baction="([^"]*)"/.exec(body);
  if (match === null) return null;
  const fields = {};
  for (const [, name, value] of body.matchAll(
    /<input[^>]*type="hidden"[^>]*name="([^"]*)"[^>]*value="([^"]*)"/g,
  )) {
    fields[unescapeHtml(name)] = unescapeHtml(value);
  }
  return { action: unescapeHtml(match[1]), fields };
}

/** The message of a Keycloak error page (or login error), or the page's start. */
function pageMessage(body) {
  for (const pattern of [
    /id="kc-error-message"[^>]*>\s*<p[^>]*>([^<]*)/,
    /class="[^"]*\bkc-feedback-text\b[^"]*"[^>]*>([^<]*)/,
    /<title>([^<]*)<\/title>/,
  ]) {
    const match = pattern.exec(body);
    if (match) return unescapeHtml(match[1]).trim();
  }
  return body.slice(0, 200);
}

async function runOauth(args) {
  const password = process.env.MCP_PASSWORD;
  if (!password) throw new ScenarioFailed("the oauth scenario needs $MCP_PASSWORD");
  const browser = new HeadlessBrowser(args.user, password, args.redirectUri);
  const provider = new StateFileProvider(args, browser);
  // Keeps the last 403 so a step-up the SDK could not complete can be redone
  // with the challenge's scope.
  let lastForbidden = null;
  const recordingFetch = async (input, init) => {
    const response = await fetch(input, init);
    if (response.status === 403) lastForbidden = response;
    return response;
  };
  const newTransport = () =>
    new StreamableHTTPClientTransport(args.url, { authProvider: provider, fetch: recordingFetch });
  const client = new Client({ name: "mcp-file-templates-e2e", version: "0.0.0" });

  // The first connection meets the 401; the SDK discovers, registers and sends
  // the browser through the authorization URL, then throws
  // `UnauthorizedError`. `finishAuth` trades the code for tokens, and a new
  // transport connects with them (the SDK's documented sequence).
  let transport = newTransport();
  try {
    await client.connect(transport);
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    await transport.finishAuth(browser.takeCode());
    transport = newTransport();
    await client.connect(transport);
  }

  try {
    const out = {
      scenario: args.scenario,
      client: "typescript-sdk",
      server: client.getServerVersion()?.name ?? null,
      protocol_version: transport.protocolVersion ?? null,
    };
    out.tools = await listTools(client);
    if (args.name) {
      const result = await render(client, args);
      out.text = result.text;
      out.structured_content = result.structuredContent;
    }
    if (args.saveName) {
      const save = () =>
        client.callTool({
          name: "save_template",
          arguments: {
            name: args.saveName,
            title: "Saved by client.mjs",
            description: "Saved through the TypeScript SDK OAuth client",
            tags: ["e2e"],
            variables: [],
            body: args.saveContent,
          },
        });
      let result;
      try {
        result = await save();
        out.step_up = "none";
      } catch (e) {
        if (e instanceof UnauthorizedError) {
          // The SDK met the 403 `insufficient_scope` and started the
          // authorization for the challenge's scope itself.
          await transport.finishAuth(browser.takeCode());
          out.step_up = "sdk";
        } else if (
          e instanceof StreamableHTTPError &&
          e.code === 403 &&
          lastForbidden !== null &&
          extractWWWAuthenticateParams(lastForbidden).error === "insufficient_scope"
        ) {
          // The SDK's own step-up (`auth()` with the challenge's scope) spent
          // the refresh token, which cannot widen the scope, and the retry met
          // the same 403. Drop the tokens so `auth()` must authorize anew for
          // the scope the server named, then finish as after a 401.
          const { scope, resourceMetadataUrl } = extractWWWAuthenticateParams(lastForbidden);
          await provider.invalidateCredentials("tokens");
          const authResult = await auth(provider, {
            serverUrl: args.url,
            scope,
            resourceMetadataUrl,
            fetchFn: recordingFetch,
          });
          if (authResult !== "REDIRECT") {
            throw new ScenarioFailed(`step-up authorization did not redirect (${authResult})`);
          }
          await transport.finishAuth(browser.takeCode());
          out.step_up = "client";
        } else {
          throw e;
        }
        result = await save();
      }
      const text = toolText(result);
      if (result.isError) throw new ScenarioFailed(`save_template returned an error: ${text}`);
      out.saved = text;
    }
    // End the session as a well-behaved client does (DELETE).
    await transport.terminateSession();
    out.authorization_pages = browser.pages;
    out.client_name = provider.clientInformation()?.client_name ?? null;
    out.granted_scope = provider.tokens()?.scope ?? null;
    return out;
  } finally {
    await client.close();
  }
}

async function main() {
  const args = parse();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ScenarioFailed(
            `scenario \`${args.scenario}\` did not finish within ${args.timeoutMs / 1000} s`,
          ),
        ),
      args.timeoutMs,
    );
  });
  try {
    const run = args.scenario === "oauth" ? runOauth(args) : runScenario(args);
    const out = await Promise.race([run, timeout]);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } catch (e) {
    if (e instanceof ScenarioFailed) fail(e.message);
    const status = e instanceof StreamableHTTPError ? ` (HTTP ${e.code})` : "";
    fail(`MCP exchange failed${status}: ${e?.message ?? String(e)}`);
  } finally {
    clearTimeout(timer);
  }
  // Open keep-alive sockets or SSE streams must not keep a finished client alive.
  process.exit(0);
}

main();
