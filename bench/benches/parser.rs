//! Parser throughput: PUB and HPUB streams of 16 B to 16 KiB payloads, parsed whole and in
//! 1500-byte reads (a typical TCP segment), reported as bytes/s and per-op time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use protocol::Parser;

const SIZES: [usize; 5] = [16, 128, 1024, 4096, 16384];
/// Bytes of protocol per benchmark iteration (about 1 MiB, so per-call overhead is amortized).
const STREAM_BYTES: usize = 1 << 20;

fn pub_stream(size: usize, headers: bool) -> (Vec<u8>, usize) {
    let payload = vec![b'x'; size];
    let hdr = b"NATS/1.0\r\nX-Trace: 1\r\n\r\n";
    let mut op = Vec::new();
    if headers {
        op.extend_from_slice(
            format!(
                "HPUB bench.subject _INBOX.r {} {}\r\n",
                hdr.len(),
                hdr.len() + size
            )
            .as_bytes(),
        );
        op.extend_from_slice(hdr);
    } else {
        op.extend_from_slice(format!("PUB bench.subject _INBOX.r {size}\r\n").as_bytes());
    }
    op.extend_from_slice(&payload);
    op.extend_from_slice(b"\r\n");
    let count = (STREAM_BYTES / op.len()).max(1);
    (op.repeat(count), count)
}

fn parse_whole(stream: &[u8]) -> usize {
    let mut p = Parser::new(4096, 64 * 1024 * 1024);
    p.headers = true;
    let mut pos = 0;
    let mut n = 0;
    while let Ok(Some((_, used))) = p.parse(&stream[pos..]) {
        pos += used;
        n += 1;
    }
    n
}

fn parse_split(stream: &[u8], read: usize) -> usize {
    let mut p = Parser::new(4096, 64 * 1024 * 1024);
    p.headers = true;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut n = 0;
    for chunk in stream.chunks(read) {
        buf.extend_from_slice(chunk);
        let mut pos = 0;
        while let Ok(Some((_, used))) = p.parse(&buf[pos..]) {
            pos += used;
            n += 1;
        }
        buf.drain(..pos);
    }
    n
}

fn bench_parser(c: &mut Criterion) {
    for headers in [false, true] {
        let name = if headers { "hpub" } else { "pub" };
        let mut group = c.benchmark_group(format!("parse_{name}"));
        for size in SIZES {
            let (stream, count) = pub_stream(size, headers);
            group.throughput(Throughput::Bytes(stream.len() as u64));
            group.bench_with_input(BenchmarkId::new("whole", size), &stream, |b, s| {
                b.iter(|| assert_eq!(parse_whole(s), count))
            });
            group.bench_with_input(BenchmarkId::new("split_1500", size), &stream, |b, s| {
                b.iter(|| assert_eq!(parse_split(s, 1500), count))
            });
        }
        group.finish();
    }
    let mut group = c.benchmark_group("parse_op");
    let (stream, count) = pub_stream(16, false);
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("pub_16B", |b| b.iter(|| parse_whole(&stream)));
    group.finish();
}

criterion_group!(benches, bench_parser);
criterion_main!(benches);
