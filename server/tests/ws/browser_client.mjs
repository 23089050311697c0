#!/usr/bin/env node
// NATS-over-WebSocket check from a real browser: headless Debian Chromium
// driven by playwright-core loads a page from a throw-away HTTP server on
// 127.0.0.1 (ephemeral port); the page imports the official
// @nats-io/nats-core client (bundled for the browser from node_modules by
// esbuild, in memory: the npm package ships CommonJS only) and checks.mjs,
// connects with wsconnect to <ws-url> and runs the same checks as
// node_client.mjs. Usage:
//   node browser_client.mjs <ws-url> [user] [pass]
// Prints ONE JSON line and exits 0 when every check passed and the page
// logged no console error and threw no page error, 1 otherwise. Whole run
// bounded by WS_TEST_TIMEOUT_MS (default 40000; browser start-up is slow on a
// busy 2-core machine). Chromium: CHROMIUM_PATH (default /usr/bin/chromium).
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const OVERALL_MS = Number(process.env.WS_TEST_TIMEOUT_MS || 40000);
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const started = Date.now();
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const pkgVersion = (name) => {
  try {
    return JSON.parse(readFileSync(here(`./node_modules/${name}/package.json`), "utf8")).version;
  } catch (_) {
    return null;
  }
};
const versions = {
  "@nats-io/nats-core": pkgVersion("@nats-io/nats-core"),
  "playwright-core": pkgVersion("playwright-core"),
  esbuild: pkgVersion("esbuild"),
  node: process.versions.node,
};
const errorText = (e) => (e && e.message ? `${e.name || "Error"}: ${e.message.split("\n")[0]}` : String(e));

let browser = null;
let httpServer = null;
let printed = false;
const consoleErrors = [];
const pageErrors = [];

async function cleanup() {
  const steps = [];
  if (browser) steps.push(browser.close().catch(() => {}));
  if (httpServer) {
    httpServer.closeAllConnections?.();
    steps.push(new Promise((r) => httpServer.close(() => r())));
  }
  await Promise.race([Promise.all(steps), new Promise((r) => setTimeout(r, 5000))]);
}

async function finish(result) {
  if (printed) return;
  printed = true;
  result.console_errors = consoleErrors;
  result.page_errors = pageErrors;
  result.elapsed_ms = Date.now() - started;
  await cleanup();
  // playwright also kills the browser process on exit.
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(result.ok ? 0 : 1));
}

const [url, user, pass] = process.argv.slice(2);
const base = { ok: false, client: "browser", url: url || null, versions };

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>gannet NATS-over-WebSocket check</title></head>
<body>
<pre id="out">running</pre>
<script type="module">
import nats from "/nats-core.js";
import { runChecks, withTimeout, errorText } from "/checks.mjs";
async function main() {
  const cfg = await (await fetch("/config.json")).json();
  const opts = { servers: cfg.url, name: "gannet-ws-browser-client", timeout: 5000, reconnect: false };
  if (cfg.user !== null) opts.user = cfg.user;
  if (cfg.pass !== null) opts.pass = cfg.pass;
  let nc;
  try {
    nc = await withTimeout(nats.wsconnect(opts), 6000, "connect to " + cfg.url);
  } catch (err) {
    return { ok: false, error: "connect: " + errorText(err) };
  }
  const server_info = nc.info;
  let r;
  try {
    r = await runChecks(nc, nats, "gannet.ws.browser." + nats.nuid.next());
  } finally {
    try { await withTimeout(nc.drain(), 3000, "drain"); }
    catch (_) { try { await withTimeout(nc.close(), 1000, "close"); } catch (_) {} }
  }
  return { ...r, server_info, user_agent: navigator.userAgent };
}
main()
  .catch((err) => ({ ok: false, error: errorText(err) }))
  .then((r) => {
    document.getElementById("out").textContent = JSON.stringify(r, null, 2);
    window.__natsResult = r;
  });
</script>
</body></html>
`;

async function buildBundle() {
  // @nats-io/nats-core on npm is CommonJS only (its ESM build is on JSR, not
  // reachable here): bundle lib/mod.js + @nats-io/nkeys, @nats-io/nuid,
  // tweetnacl into one browser ES module exporting the module as default.
  const r = await esbuild.build({
    stdin: {
      contents: 'import * as nats from "@nats-io/nats-core"; export default nats;',
      resolveDir: here("./"),
      loader: "js",
      sourcefile: "nats-core-entry.js",
    },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const text = r.outputFiles[0].text;
  return {
    text,
    info: {
      entry: "node_modules/@nats-io/nats-core/lib/mod.js",
      bytes: Buffer.byteLength(text),
      sha256: createHash("sha256").update(text).digest("hex").slice(0, 16),
    },
  };
}

function serve(routes) {
  return new Promise((resolve, reject) => {
    const srv = createServer((req, res) => {
      const path = new URL(req.url, "http://x").pathname;
      const r = routes[path];
      if (!r) {
        res.writeHead(path === "/favicon.ico" ? 204 : 404).end();
        return;
      }
      res.writeHead(200, { "content-type": r.type, "cache-control": "no-store" }).end(r.body);
    });
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => resolve(srv));
  });
}

async function main() {
  const bundle = await buildBundle();
  base.bundle = bundle.info;
  const routes = {
    "/": { type: "text/html; charset=utf-8", body: PAGE },
    "/nats-core.js": { type: "text/javascript; charset=utf-8", body: bundle.text },
    "/checks.mjs": { type: "text/javascript; charset=utf-8", body: readFileSync(here("./checks.mjs")) },
    "/config.json": {
      type: "application/json",
      body: JSON.stringify({ url, user: user ?? null, pass: pass ?? null }),
    },
  };
  httpServer = await serve(routes);
  const pageUrl = `http://127.0.0.1:${httpServer.address().port}/`;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20000,
    // Without the background-networking switches Chromium keeps dialing Google's hosts,
    // which this closed network refuses.
    args: [
      "--disable-gpu",
      "--no-first-run",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  base.browser_version = browser.version();
  const page = await browser.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => pageErrors.push(errorText(err)));
  page.on("crash", () => pageErrors.push("page crashed"));

  await page.goto(pageUrl, { waitUntil: "load", timeout: 10000 });
  // Checks take ~2 s at most when healthy; each wait inside is bounded.
  await page.waitForFunction(() => window.__natsResult !== undefined, null, {
    timeout: Math.max(1000, OVERALL_MS - (Date.now() - started) - 3000),
    polling: 100,
  });
  const r = await page.evaluate(() => window.__natsResult);
  // Give late console errors (e.g. a WebSocket error on close) a moment.
  await new Promise((res) => setTimeout(res, 200));
  return r;
}

if (!url) {
  finish({ ...base, error: "usage: node browser_client.mjs <ws-url> [user] [pass]" });
} else {
  const overall = setTimeout(
    () => finish({ ...base, error: `overall timeout after ${OVERALL_MS} ms` }),
    OVERALL_MS,
  );
  process.on("unhandledRejection", (err) =>
    finish({ ...base, error: `unhandled rejection: ${errorText(err)}` }));
  main()
    .then((r) => {
      const res = { ...base, ...r };
      if (consoleErrors.length || pageErrors.length) {
        res.ok = false;
        res.error = res.error || "page logged console errors or threw page errors";
      }
      return finish(res);
    })
    .catch((err) => finish({ ...base, error: errorText(err) }))
    .finally(() => clearTimeout(overall));
}
