#!/usr/bin/env node
// NATS-over-WebSocket check from Node with the official @nats-io/nats-core
// client (wsconnect). Usage:
//   node node_client.mjs <ws-url> [user] [pass]
// Prints ONE JSON line {"ok":...,"checks":{...},"server_info":{...}} and exits
// 0 when every check passed, 1 otherwise. Whole run bounded by
// WS_TEST_TIMEOUT_MS (default 20000).
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import nats from "@nats-io/nats-core";
import { runChecks, withTimeout, errorText } from "./checks.mjs";

const OVERALL_MS = Number(process.env.WS_TEST_TIMEOUT_MS || 20000);
const CONNECT_MS = 5000;
const started = Date.now();
const pkgVersion = (name) => {
  try {
    const u = new URL(`./node_modules/${name}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(u, "utf8")).version;
  } catch (_) {
    return null;
  }
};
const versions = {
  "@nats-io/nats-core": pkgVersion("@nats-io/nats-core"),
  ws: pkgVersion("ws"),
  node: process.versions.node,
};

let printed = false;
function finish(result) {
  if (printed) return;
  printed = true;
  result.elapsed_ms = Date.now() - started;
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : 1));
}

const [url, user, pass] = process.argv.slice(2);
const base = { ok: false, client: "node", url: url || null, versions };
if (!url) {
  finish({ ...base, error: "usage: node node_client.mjs <ws-url> [user] [pass]" });
} else {
  // Node 20 has no global WebSocket (Node 22 has one); nats-core's wsconnect
  // uses the W3C WebSocket global, which the `ws` package provides.
  let wsImpl = "global";
  if (typeof globalThis.WebSocket === "undefined") {
    globalThis.WebSocket = WebSocket;
    wsImpl = `ws@${versions.ws}`;
  }
  base.websocket_impl = wsImpl;

  const overall = setTimeout(
    () => finish({ ...base, error: `overall timeout after ${OVERALL_MS} ms` }),
    OVERALL_MS,
  );
  process.on("unhandledRejection", (err) =>
    finish({ ...base, error: `unhandled rejection: ${errorText(err)}` }));
  process.on("uncaughtException", (err) =>
    finish({ ...base, error: `uncaught exception: ${errorText(err)}` }));

  main(url, user, pass)
    .then((r) => finish({ ...base, ...r }))
    .catch((err) => finish({ ...base, error: errorText(err) }))
    .finally(() => clearTimeout(overall));
}

async function main(url, user, pass) {
  const opts = {
    servers: url,
    name: "gannet-ws-node-client",
    timeout: CONNECT_MS,
    reconnect: false,
  };
  if (user !== undefined) opts.user = user;
  if (pass !== undefined) opts.pass = pass;

  let nc;
  try {
    nc = await withTimeout(nats.wsconnect(opts), CONNECT_MS + 1000, `connect to ${url}`);
  } catch (err) {
    return { ok: false, error: `connect: ${errorText(err)}` };
  }
  const server_info = nc.info;
  const prefix = `gannet.ws.node.${nats.nuid.next()}`;
  let r;
  try {
    r = await runChecks(nc, nats, prefix);
  } finally {
    // Bounded close; a failure here does not hide the check results.
    try {
      await withTimeout(nc.drain(), 3000, "drain");
    } catch (err) {
      try { await withTimeout(nc.close(), 1000, "close"); } catch (_) { /* ignore */ }
    }
  }
  return { ...r, server_info };
}
