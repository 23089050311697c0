// Runtime-agnostic NATS-over-WebSocket checks, shared by node_client.mjs
// (Node) and browser_client.mjs (loaded into the headless Chromium page).
// No imports: the caller passes in the @nats-io/nats-core module, so this file
// runs unchanged in Node and in the browser.

const enc = new TextEncoder();
const dec = new TextDecoder();

// Each single wait is bounded by this; the callers add an overall deadline.
export const STEP_TIMEOUT_MS = 4000;

export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timeout after ${ms} ms: ${what}`)),
      ms,
    );
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export function errorText(err) {
  if (!err) return String(err);
  let s = `${err.name || "Error"}: ${err.message || String(err)}`;
  if (err.cause) s += ` (cause: ${errorText(err.cause)})`;
  return s;
}

// Subscribe and resolve once `n` messages have arrived.
function collect(nc, subject, n, opts = {}) {
  const msgs = [];
  let resolve, reject;
  const done = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const sub = nc.subscribe(subject, {
    ...opts,
    callback: (err, m) => {
      if (err) {
        reject(err);
        return;
      }
      msgs.push(m);
      if (msgs.length >= n) resolve(msgs);
    },
  });
  return { sub, msgs, done };
}

function assert(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pubsub(nc, _nats, prefix) {
  const subject = `${prefix}.pubsub`;
  const n = 10;
  const c = collect(nc, subject, n);
  await withTimeout(nc.flush(), STEP_TIMEOUT_MS, "flush after SUB");
  for (let i = 0; i < n; i++) nc.publish(subject, enc.encode(`msg-${i}`));
  const msgs = await withTimeout(c.done, STEP_TIMEOUT_MS, `${n} messages on ${subject}`);
  c.sub.unsubscribe();
  const got = msgs.map((m) => m.string());
  for (let i = 0; i < n; i++) {
    assert(got[i] === `msg-${i}`, `message ${i} out of order: got ${JSON.stringify(got)}`);
    assert(msgs[i].subject === subject, `subject ${msgs[i].subject}`);
  }
  return { sent: n, received: msgs.length, in_order: true };
}

async function wildcards(nc, _nats, prefix) {
  const star = collect(nc, `${prefix}.wild.*`, 1);
  const gt = collect(nc, `${prefix}.wild.>`, 2);
  await withTimeout(nc.flush(), STEP_TIMEOUT_MS, "flush after SUB");
  nc.publish(`${prefix}.wild.a`, enc.encode("one"));
  nc.publish(`${prefix}.wild.a.b`, enc.encode("two"));
  await withTimeout(Promise.all([star.done, gt.done]), STEP_TIMEOUT_MS, "wildcard deliveries");
  // Flush a round trip so that any wrong extra delivery has arrived too.
  await withTimeout(nc.flush(), STEP_TIMEOUT_MS, "flush");
  star.sub.unsubscribe();
  gt.sub.unsubscribe();
  assert(star.msgs.length === 1, `'*' got ${star.msgs.length} messages, want 1`);
  assert(gt.msgs.length === 2, `'>' got ${gt.msgs.length} messages, want 2`);
  return { star: star.msgs.map((m) => m.subject), full: gt.msgs.map((m) => m.subject) };
}

async function headersCheck(nc, nats, prefix) {
  assert(nc.info && nc.info.headers === true, "server INFO does not advertise headers:true");
  const subject = `${prefix}.headers`;
  const c = collect(nc, subject, 2);
  await withTimeout(nc.flush(), STEP_TIMEOUT_MS, "flush after SUB");
  const h = nats.headers();
  h.set("X-Gannet", "hello");
  h.append("X-Multi", "a");
  h.append("X-Multi", "b");
  nc.publish(subject, enc.encode("with-headers"), { headers: h });
  const h2 = nats.headers();
  h2.set("X-Only", "1");
  nc.publish(subject, nats.Empty, { headers: h2 }); // headers, empty payload
  const msgs = await withTimeout(c.done, STEP_TIMEOUT_MS, "header messages");
  c.sub.unsubscribe();
  const [m1, m2] = msgs;
  assert(m1.headers, "first message has no headers");
  assert(m1.headers.get("X-Gannet") === "hello", `X-Gannet=${m1.headers.get("X-Gannet")}`);
  const multi = m1.headers.values("X-Multi");
  assert(JSON.stringify(multi) === '["a","b"]', `X-Multi=${JSON.stringify(multi)}`);
  assert(m1.string() === "with-headers", `payload ${m1.string()}`);
  assert(m2.headers && m2.headers.get("X-Only") === "1", "headers-only message lost its header");
  assert(m2.data.length === 0, `headers-only message has ${m2.data.length} payload bytes`);
  return { "X-Gannet": m1.headers.get("X-Gannet"), "X-Multi": multi, headers_only_ok: true };
}

async function requestReply(nc, nats, prefix) {
  const subject = `${prefix}.svc`;
  let served = 0;
  const sub = nc.subscribe(subject, {
    callback: (err, m) => {
      if (err) return;
      served++;
      const h = nats.headers();
      const echo = m.headers ? m.headers.get("X-Echo") : "";
      if (echo) h.set("X-Echoed", echo);
      m.respond(enc.encode(`pong:${m.string()}`), { headers: h });
    },
  });
  await withTimeout(nc.flush(), STEP_TIMEOUT_MS, "flush after SUB");
  const replies = [];
  for (let i = 0; i < 3; i++) {
    const r = await nc.request(subject, enc.encode(`ping-${i}`), { timeout: STEP_TIMEOUT_MS });
    assert(r.string() === `pong:ping-${i}`, `reply ${i}: ${r.string()}`);
    replies.push(r.string());
  }
  const rh = nats.headers();
  rh.set("X-Echo", "round-trip");
  const r = await nc.request(subject, enc.encode("hdr"), { timeout: STEP_TIMEOUT_MS, headers: rh });
  assert(r.headers && r.headers.get("X-Echoed") === "round-trip", "reply header not echoed");
  // Several requests in flight at once over the shared mux inbox.
  const par = await Promise.all(
    [0, 1, 2, 3, 4].map((i) =>
      nc.request(subject, enc.encode(`par-${i}`), { timeout: STEP_TIMEOUT_MS })
    ),
  );
  par.forEach((m, i) => assert(m.string() === `pong:par-${i}`, `parallel reply ${i}: ${m.string()}`));
  sub.unsubscribe();
  return { replies, header_echo: r.headers.get("X-Echoed"), parallel: par.length, served };
}

async function queueGroup(nc, _nats, prefix) {
  const subject = `${prefix}.queue`;
  const n = 20;
  const counts = [0, 0];
  const seen = new Map();
  let resolve;
  const all = new Promise((r) => (resolve = r));
  let total = 0;
  const subs = [0, 1].map((k) =>
    nc.subscribe(subject, {
      queue: "workers",
      callback: (err, m) => {
        if (err) return;
        counts[k]++;
        total++;
        const key = m.string();
        seen.set(key, (seen.get(key) || 0) + 1);
        if (total >= n) resolve();
      },
    })
  );
  await withTimeout(nc.flush(), STEP_TIMEOUT_MS, "flush after SUB");
  for (let i = 0; i < n; i++) nc.publish(subject, enc.encode(`q-${i}`));
  await withTimeout(all, STEP_TIMEOUT_MS, `${n} queue-group deliveries (got ${total})`);
  // Let any duplicate delivery arrive before judging.
  await withTimeout(nc.flush(), STEP_TIMEOUT_MS, "flush");
  await sleep(100);
  subs.forEach((s) => s.unsubscribe());
  const dups = [...seen.entries()].filter(([, c]) => c !== 1).map(([k]) => k);
  assert(total === n, `queue group delivered ${total} messages for ${n} published`);
  assert(seen.size === n && dups.length === 0, `duplicates or gaps: seen=${seen.size} dups=${dups}`);
  return { published: n, delivered: total, per_member: counts, exactly_once: true };
}

async function noResponders(nc, _nats, prefix) {
  // A server that advertises headers must answer a request with no
  // subscriber by a 503 status (the client asked for no_responders).
  const t0 = Date.now();
  try {
    await nc.request(`${prefix}.nobody`, enc.encode("?"), { timeout: STEP_TIMEOUT_MS });
  } catch (err) {
    const nr = typeof err.isNoResponders === "function"
      ? err.isNoResponders()
      : err.name === "NoResponders";
    assert(nr, `expected no-responders, got ${errorText(err)}`);
    return { no_responders: true, ms: Date.now() - t0 };
  }
  throw new Error("check failed: request with no subscriber got a reply");
}

async function largePayload(nc, _nats, prefix) {
  const max = (nc.info && nc.info.max_payload) || 1048576;
  const size = Math.min(256 * 1024, max);
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
  const subject = `${prefix}.large`;
  const c = collect(nc, subject, 1);
  await withTimeout(nc.flush(), STEP_TIMEOUT_MS, "flush after SUB");
  nc.publish(subject, data);
  const [m] = await withTimeout(c.done, STEP_TIMEOUT_MS, "large message");
  c.sub.unsubscribe();
  assert(m.data.length === size, `got ${m.data.length} bytes, want ${size}`);
  for (let i = 0; i < size; i++) {
    if (m.data[i] !== data[i]) throw new Error(`check failed: byte ${i} differs`);
  }
  return { bytes: size };
}

export const CHECKS = [
  ["pubsub", pubsub],
  ["wildcards", wildcards],
  ["headers", headersCheck],
  ["request_reply", requestReply],
  ["queue_group", queueGroup],
  ["no_responders", noResponders],
  ["large_payload", largePayload],
];

// Run every check in order, stopping at the first failure (a broken
// connection would otherwise make each later check wait for its timeout).
// Returns { ok, checks, error? }.
export async function runChecks(nc, nats, prefix) {
  const checks = {};
  for (const [name, fn] of CHECKS) {
    const t0 = Date.now();
    try {
      const detail = await withTimeout(fn(nc, nats, prefix), 2 * STEP_TIMEOUT_MS, name);
      checks[name] = { ok: true, ms: Date.now() - t0, ...detail };
    } catch (err) {
      checks[name] = { ok: false, ms: Date.now() - t0, error: errorText(err) };
      return { ok: false, checks, error: `${name}: ${errorText(err)}` };
    }
  }
  return { ok: true, checks };
}
