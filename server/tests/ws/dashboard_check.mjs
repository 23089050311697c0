#!/usr/bin/env node
// End-to-end check of gannet's live dashboard in headless Chromium (playwright-core), driven
// step by step by the Rust test that owns the server and the clients (it::dashboard):
//   node dashboard_check.mjs <dashboard-url> <screenshot.png> <name,name,...>
// Steps, each printed as one JSON line on stdout:
//   1. {"step":"clients"}     every named client is listed in the connections table, a
//      subject filter keeps only the subscriber, and sorting by name works;
//   then it reads "published" on stdin and waits for the message rate to move:
//   2. {"step":"rates","in":<msgs/s>};
//   then it reads "killed <name>" and waits for that client's DISCONNECT event:
//   3. {"step":"disconnect","event":"..."};
//   4. a final {"ok":true|false,...} with the console errors, after the screenshot.
// Any console error or page error fails the run. Every wait is bounded.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const STEP_MS = 20000;
const [url, shot, namesArg] = process.argv.slice(2);
const names = (namesArg || "").split(",").filter(Boolean);
const consoleErrors = [];
const pageErrors = [];
let browser = null;

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const lines = createInterface({ input: process.stdin });
const pending = [];
const waiting = [];
lines.on("line", (l) => (waiting.length ? waiting.shift()(l) : pending.push(l)));
const nextLine = () =>
  pending.length
    ? Promise.resolve(pending.shift())
    : new Promise((resolve, reject) => {
        waiting.push(resolve);
        setTimeout(() => reject(new Error("no instruction on stdin")), STEP_MS);
      });

async function main() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20000,
    args: ["--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", "--disable-quic",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(url, { timeout: STEP_MS });

  for (const name of names) {
    await page.waitForSelector(`#conns tr[data-name="${name}"]`, { timeout: STEP_MS });
  }
  // Filter by subject: only the subscriber of dash.rate stays; then sort by name, descending.
  await page.fill("#filter", "dash.rate");
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll("#conns tr");
    return rows.length === 1 && rows[0].dataset.name === "dash-sub";
  }, null, { timeout: STEP_MS });
  await page.fill("#filter", "");
  await page.click('th[data-k="name"]');
  await page.click('th[data-k="name"]');
  const order = await page.$$eval("#conns tr", (rows) => rows.map((r) => r.dataset.name));
  const sorted = [...order].sort().reverse();
  if (JSON.stringify(order) !== JSON.stringify(sorted)) throw new Error("not sorted: " + order);
  out({ step: "clients", order });

  if ((await nextLine()) !== "published") throw new Error("expected 'published'");
  await page.waitForFunction(() => Number(document.getElementById("r-in").dataset.value || 0) > 0,
    null, { timeout: STEP_MS });
  const rate = await page.$eval("#r-in", (e) => Number(e.dataset.value));
  out({ step: "rates", in: rate });

  const killed = (await nextLine()).replace(/^killed /, "");
  const handle = await page.waitForFunction(
    (n) => [...document.querySelectorAll('#events [data-kind="DISCONNECT"]')]
      .map((e) => e.textContent).find((t) => t.includes(n)),
    killed, { timeout: STEP_MS });
  out({ step: "disconnect", event: await handle.jsonValue() });
  const source = await page.$eval("#ev-source", (e) => e.textContent);

  await page.screenshot({ path: shot, fullPage: true });
  return source;
}

const overall = setTimeout(() => {
  out({ ok: false, error: "overall timeout", console_errors: consoleErrors, page_errors: pageErrors });
  process.exit(1);
}, 4 * STEP_MS);

main()
  .then(async (source) => {
    await browser.close();
    clearTimeout(overall);
    const ok = consoleErrors.length === 0 && pageErrors.length === 0;
    out({ ok, events_source: source, console_errors: consoleErrors, page_errors: pageErrors });
    process.exit(ok ? 0 : 1);
  })
  .catch(async (e) => {
    if (browser) await browser.close().catch(() => {});
    clearTimeout(overall);
    out({ ok: false, error: String(e && e.message || e).split("\n")[0], console_errors: consoleErrors, page_errors: pageErrors });
    process.exit(1);
  });
