import asyncio, nats
async def main():
    nc = await nats.connect("nats://sys:sys@127.0.0.1:37222")
    async def cb(m): print(m.subject, m.data[:300])
    await nc.subscribe("$SYS.>", cb=cb)
    await asyncio.sleep(4)
asyncio.run(main())
