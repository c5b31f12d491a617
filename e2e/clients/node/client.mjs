#!/usr/bin/env node
// End-to-end MCP client built on the official TypeScript SDK
// (@modelcontextprotocol/sdk): `Client` + `StreamableHTTPClientTransport`, the
// bearer token in the `Authorization` header via `requestInit.headers`.
//
// Prints one JSON object to stdout and exits 0 when the scenario holds; prints
// `client.mjs: <reason>` to stderr and exits 1 when it does not (2 for a usage
// error). The token never appears in the output.
//
// Scenarios (same as ../python/client.py):
//   list-tools  initialize, list tools, require the five tool names
//   render      list-tools, then call `render_template` with --name and
//               --variables (a JSON object); the result must not be an error,
//               and must contain --expect-text when given; then end the
//               session with DELETE
//   expect-401  connecting must fail with HTTP 401 (the bearer token, if any,
//               is sent; omit it to test the no-credentials case); reports the
//               `WWW-Authenticate` challenge
//
// Usage:
//   MCP_TOKEN=... node client.mjs --url http://127.0.0.1:PORT/mcp render \
//       --name readme --variables '{"project": "x", "description": "y"}'

import { parseArgs } from "node:util";
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
const SCENARIOS = ["list-tools", "render", "expect-401"];

class ScenarioFailed extends Error {}

function usage(message) {
  process.stderr.write(
    `client.mjs: ${message}\n` +
      "usage: client.mjs {list-tools|render|expect-401} --url URL [--token TOKEN] " +
      "[--name NAME] [--variables JSON] [--expect-text TEXT] [--timeout SECONDS]\n",
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
  if (scenario === "render" && !values.name) usage("`render` needs --name");
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) usage("--timeout must be a positive number of seconds");
  const token = values.token || process.env.MCP_TOKEN || undefined;
  if (!token && scenario !== "expect-401") {
    usage("no token: pass --token or set MCP_TOKEN");
  }
  return {
    scenario,
    url: new URL(values.url),
    token,
    name: values.name,
    variables,
    expectText: values["expect-text"],
    timeoutMs: timeout * 1000,
  };
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
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    const missing = EXPECTED_TOOLS.filter((n) => !names.includes(n));
    if (missing.length > 0) {
      throw new ScenarioFailed(
        `tools/list lacks ${JSON.stringify(missing)}; server offers ${JSON.stringify(names)}`,
      );
    }
    out.tools = names;
    if (args.scenario === "render") {
      const result = await client.callTool({
        name: "render_template",
        arguments: { name: args.name, variables: args.variables },
      });
      const text = (result.content ?? [])
        .filter((c) => c.type === "text")
        .map((c) => c.text)
        .join("");
      if (result.isError) throw new ScenarioFailed(`render_template returned an error: ${text}`);
      if (args.expectText !== undefined && !text.includes(args.expectText)) {
        throw new ScenarioFailed(
          `render_template text lacks ${JSON.stringify(args.expectText)}: ${JSON.stringify(text)}`,
        );
      }
      out.text = text;
      out.structured_content = result.structuredContent ?? null;
      // End the session as a well-behaved client does (DELETE; a 405 from a
      // session-less server is accepted by the SDK).
      await transport.terminateSession();
    }
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
    const out = await Promise.race([runScenario(args), timeout]);
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
