//! A real client library against the real binary: async-nats for pub/sub, wildcards, queue
//! groups, request/reply, headers, no-responders, auto-unsubscribe, max_payload, reconnect,
//! many connections across workers, and per-publisher ordering.

use crate::util::{self, start_server};
use futures::StreamExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(T, sub.next())
        .await
        .expect("timed out waiting for a message")
        .expect("subscription ended")
}

/// A round trip through the server: async-nats' `flush` only flushes the socket, so this
/// publishes to a private subject and waits for the message, which proves the server has
/// processed everything this client sent before (ops of one connection are in order).
async fn sync(client: &async_nats::Client) {
    let subject = format!("_sync.{}", nuid_like());
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.publish(subject, "".into()).await.unwrap();
    client.flush().await.unwrap();
    next_msg(&mut sub).await;
    sub.unsubscribe().await.unwrap();
}

fn nuid_like() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

async fn connect(url: &str) -> async_nats::Client {
    async_nats::connect(url).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_and_wildcards() {
    let s = start_server("", &["-workers", "2"]);
    let client = connect(&s.url()).await;
    let mut exact = client.subscribe("a.b.c").await.unwrap();
    let mut star = client.subscribe("a.*.c").await.unwrap();
    let mut gt = client.subscribe("a.>").await.unwrap();
    client.flush().await.unwrap();
    client.publish("a.b.c", "hello".into()).await.unwrap();
    client.publish("a.x", "only-gt".into()).await.unwrap();
    client.flush().await.unwrap();
    assert_eq!(next_msg(&mut exact).await.payload, "hello");
    assert_eq!(next_msg(&mut star).await.payload, "hello");
    assert_eq!(next_msg(&mut gt).await.payload, "hello");
    assert_eq!(next_msg(&mut gt).await.payload, "only-gt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_groups_deliver_once_and_spread() {
    let s = start_server("", &["-workers", "2"]);
    let publisher = connect(&s.url()).await;
    let mut members = Vec::new();
    for _ in 0..4 {
        let c = connect(&s.url()).await;
        let sub = c.queue_subscribe("work", "q".into()).await.unwrap();
        sync(&c).await;
        members.push((c, sub));
    }
    let plain_client = connect(&s.url()).await;
    let mut plain = plain_client.subscribe("work").await.unwrap();
    sync(&plain_client).await;
    let total = 400;
    for i in 0..total {
        publisher
            .publish("work", format!("{i}").into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    let mut plain_got = 0;
    while plain_got < total {
        match tokio::time::timeout(Duration::from_secs(3), plain.next()).await {
            Ok(Some(_)) => plain_got += 1,
            _ => {
                let mut qn = 0;
                for (_, sub) in members.iter_mut() {
                    while let Ok(Some(_)) =
                        tokio::time::timeout(Duration::from_millis(300), sub.next()).await
                    {
                        qn += 1;
                    }
                }
                panic!("plain subscriber got {plain_got} of {total}; queue members {qn}");
            }
        }
    }
    let mut counts = Vec::new();
    for (_, sub) in members.iter_mut() {
        let mut n = 0;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
            n += 1;
        }
        counts.push(n);
    }
    assert_eq!(counts.iter().sum::<usize>(), total, "{counts:?}");
    assert!(
        counts.iter().all(|n| *n > 0),
        "every member should get some: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_and_headers() {
    let s = start_server("", &["-workers", "2"]);
    let responder = connect(&s.url()).await;
    let mut service = responder.subscribe("svc.echo").await.unwrap();
    sync(&responder).await;
    let r2 = responder.clone();
    tokio::spawn(async move {
        while let Some(msg) = service.next().await {
            let mut headers = async_nats::HeaderMap::new();
            if let Some(h) = msg.headers.as_ref().and_then(|h| h.get("X-In")) {
                headers.insert("X-Out", h.as_str());
            }
            if let Some(reply) = msg.reply {
                r2.publish_with_headers(reply, headers, msg.payload)
                    .await
                    .unwrap();
            }
        }
    });
    let requester = connect(&s.url()).await;
    let reply = tokio::time::timeout(T, requester.request("svc.echo", "ping".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload, "ping");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("X-In", "v1");
    let reply = tokio::time::timeout(
        T,
        requester.request_with_headers("svc.echo", headers, "h".into()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(reply.headers.unwrap().get("X-Out").unwrap().as_str(), "v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_responders() {
    let s = start_server("", &[]);
    let client = connect(&s.url()).await;
    let err = tokio::time::timeout(T, client.request("nobody.home", "x".into()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.kind(),
        async_nats::RequestErrorKind::NoResponders,
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_unsubscribe() {
    let s = start_server("", &[]);
    let client = connect(&s.url()).await;
    let mut sub = client.subscribe("limited").await.unwrap();
    sub.unsubscribe_after(3).await.unwrap();
    for i in 0..10 {
        client
            .publish("limited", format!("{i}").into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        got.push(m.payload);
    }
    assert_eq!(got, vec!["0", "1", "2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_payload_is_enforced() {
    let s = start_server("max_payload: 1024\n", &[]);
    let client = connect(&s.url()).await;
    assert_eq!(client.server_info().max_payload, 1024);
    let err = client.publish("big", vec![0u8; 2048].into()).await;
    assert!(
        err.is_err(),
        "client library refuses payloads over the server's max_payload"
    );
    // A raw client that ignores INFO gets the server's verdict.
    let mut raw = util::Conn::setup(&s);
    raw.send(b"CONNECT {\"verbose\":false}\r\nPUB big 2048\r\n");
    assert!(raw.is_closed(util::SEC * 3));
    assert_eq!(
        String::from_utf8_lossy(&raw.buf),
        "-ERR 'Maximum Payload Violation'\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_server_restart() {
    let s = start_server("", &[]);
    let port = s.port;
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(s.url())
        .await
        .unwrap();
    let mut sub = client.subscribe("after.restart").await.unwrap();
    client.flush().await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let port_arg = port.to_string();
    let s2 = start_server("", &["-p", &port_arg]);
    assert_eq!(s2.port, port);
    // The client resubscribes on reconnect; publish until it is delivered.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let _ = client.publish("after.restart", "back".into()).await;
        let _ = client.flush().await;
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            assert_eq!(m.payload, "back");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery after restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_connections_cross_worker() {
    let s = start_server("", &["-workers", "2"]);
    let mut clients = Vec::new();
    let mut subs = Vec::new();
    for i in 0..1000 {
        let c = connect(&s.url()).await;
        if i % 10 == 0 {
            subs.push(c.subscribe(format!("conn.{i}")).await.unwrap());
            sync(&c).await;
        }
        clients.push(c);
    }
    // Every 10th client is subscribed; its neighbour (likely on the other worker, since
    // connections are handed out round-robin) publishes to it.
    for (k, i) in (0..1000).step_by(10).enumerate() {
        let from = &clients[i + 1];
        from.publish(format!("conn.{i}"), format!("{k}").into())
            .await
            .unwrap();
        from.flush().await.unwrap();
    }
    for (k, sub) in subs.iter_mut().enumerate() {
        assert_eq!(next_msg(sub).await.payload, format!("{k}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_from_one_publisher_across_workers() {
    let s = start_server("", &["-workers", "2"]);
    let subscriber = connect(&s.url()).await;
    let publisher = connect(&s.url()).await;
    let mut sub = subscriber.subscribe("ordered").await.unwrap();
    sync(&subscriber).await;
    let n = 20_000u32;
    for i in 0..n {
        publisher
            .publish("ordered", i.to_le_bytes().to_vec().into())
            .await
            .unwrap();
    }
    publisher.flush().await.unwrap();
    for i in 0..n {
        let m = next_msg(&mut sub).await;
        let got = u32::from_le_bytes(m.payload[..4].try_into().unwrap());
        assert_eq!(got, i, "out of order");
    }
}
