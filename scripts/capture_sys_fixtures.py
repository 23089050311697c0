#!/usr/bin/env python3
"""Captures system-account events, $SYS.REQ replies and monitoring JSON from a real NATS
server, so the sysacct crate can check its types against the reference payloads.

usage: scripts/capture_sys_fixtures.py [SERVER_BINARY] [OUT_DIR]
(defaults: nats-server from PATH, sysacct/tests/fixtures). Needs nats-py.
Every run is bounded: the server is started on random loopback ports and killed at the end.
"""
import asyncio, json, os, re, socket, subprocess, sys, tempfile, time, urllib.request

CONF = """
accounts: { USERS: { users: [ {user: a, password: a} ] }, SYS: { users: [ {user: admin, password: changeit} ] } }
system_account: SYS
server_name: fixture
"""

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

async def main(binary, out):
    import nats
    os.makedirs(out, exist_ok=True)
    port, http = free_port(), free_port()
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False); conf.write(CONF); conf.close()
    proc = subprocess.Popen([binary, "-c", conf.name, "-a", "127.0.0.1", "-p", str(port), "-m", str(http)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"nats://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close(); break
            except OSError:
                time.sleep(0.05)
        events = []
        admin = await nats.connect(url, user="admin", password="changeit")
        async def on_msg(m):
            try:
                body = json.loads(m.data) if m.data else None
            except Exception:
                body = m.data.decode(errors="replace")
            events.append({"subject": m.subject, "body": body})
        await admin.subscribe(">", cb=on_msg)
        await admin.flush()
        a = await nats.connect(url, user="a", password="a", name="fixture-client")
        await a.publish("foo", b"bar"); await a.flush()
        await asyncio.sleep(0.3)
        await a.close()
        try:
            await nats.connect(url, user="a", password="wrong", max_reconnect_attempts=0, allow_reconnect=False,
                               connect_timeout=1)
        except Exception:
            pass
        await asyncio.sleep(1.5)
        replies = {}
        info = json.loads(socket.create_connection(("127.0.0.1", port)).recv(4096)[5:])
        sid = info["server_id"]
        reqs = ["$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.IDZ", "$SYS.REQ.SERVER.PING.STATSZ",
                "$SYS.REQ.SERVER.PING.VARZ", "$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.SERVER.PING.SUBSZ",
                "$SYS.REQ.SERVER.PING.ACCOUNTZ", "$SYS.REQ.SERVER.PING.HEALTHZ", "$SYS.REQ.SERVER.PING.JSZ",
                "$SYS.REQ.SERVER.PING.ROUTEZ", "$SYS.REQ.SERVER.PING.GATEWAYZ", "$SYS.REQ.SERVER.PING.LEAFZ",
                f"$SYS.REQ.SERVER.{sid}.VARZ", f"$SYS.REQ.SERVER.{sid}.EXPVARZ",
                "$SYS.REQ.ACCOUNT.USERS.CONNZ", "$SYS.REQ.ACCOUNT.USERS.INFO", "$SYS.REQ.ACCOUNT.USERS.STATZ",
                "$SYS.REQ.ACCOUNT.USERS.SUBSZ", "$SYS.REQ.ACCOUNT.USERS.CONNS", "$SYS.REQ.ACCOUNT.PING.STATZ",
                "$SYS.REQ.USER.INFO"]
        for subj in reqs:
            try:
                r = await admin.request(subj, b"", timeout=2)
                replies[subj.replace(sid, "<sid>")] = json.loads(r.data)
            except Exception as e:
                replies[subj.replace(sid, "<sid>")] = {"__error": str(e)}
        a2 = await nats.connect(url, user="a", password="a")
        r = await a2.request("$SYS.REQ.USER.INFO", b"", timeout=2)
        replies["$SYS.REQ.USER.INFO (from USERS)"] = json.loads(r.data)
        await a2.close()
        http_docs = {}
        for path in ["varz", "connz", "connz?subs=1", "subsz", "accountz", "healthz", "routez", "gatewayz",
                     "leafz", "jsz", "accstatz"]:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/{path}", timeout=2) as resp:
                http_docs[path] = json.loads(resp.read())
        await admin.drain()
        proc.terminate(); proc.wait(5)
        # The SHUTDOWN event arrives as the server stops; capture it with a second, short run is not
        # needed: it is the ServerInfo body seen in other events.
        for name, doc in [("events", events), ("requests", replies), ("http", http_docs)]:
            with open(os.path.join(out, f"{name}.json"), "w") as f:
                json.dump(doc, f, indent=1, sort_keys=False)
        print(f"captured {len(events)} events, {len(replies)} replies, {len(http_docs)} http docs into {out}")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.unlink(conf.name)

if __name__ == "__main__":
    binary = sys.argv[1] if len(sys.argv) > 1 else "nats-server"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "sysacct", "tests", "fixtures")
    asyncio.run(main(binary, out))
