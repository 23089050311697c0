//! Property: however a byte stream is cut into reads, the parser yields the same ops and ends
//! the same way as when it gets the stream in one piece; and no input makes it panic.

use proptest::prelude::*;

fn op() -> impl Strategy<Value = Vec<u8>> {
    let subject = "[a-z*>]{1,3}(\\.[a-z*>]{1,3}){0,3}";
    let payload = proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        Just(b"PING\r\n".to_vec()),
        Just(b"PONG\n".to_vec()),
        Just(b"+OK\r\n".to_vec()),
        Just(b"CONNECT {\"verbose\":false}\r\n".to_vec()),
        (subject, "[0-9]{1,3}").prop_map(|(s, sid)| format!("SUB {s} {sid}\r\n").into_bytes()),
        ("[0-9]{1,3}", proptest::option::of("[0-9]{1,2}")).prop_map(|(sid, max)| match max {
            Some(m) => format!("UNSUB {sid} {m}\r\n").into_bytes(),
            None => format!("UNSUB {sid}\r\n").into_bytes(),
        }),
        (
            "[a-z]{1,8}",
            proptest::option::of("[a-z]{1,8}"),
            payload.clone()
        )
            .prop_map(|(s, r, p)| {
                let mut out = match r {
                    Some(r) => format!("PUB {s} {r} {}\r\n", p.len()).into_bytes(),
                    None => format!("pub {s}\t{}\r\n", p.len()).into_bytes(),
                };
                out.extend_from_slice(&p);
                out.extend_from_slice(b"\r\n");
                out
            }),
        ("[a-z]{1,8}", payload).prop_map(|(s, p)| {
            let hdr = b"NATS/1.0\r\nA: b\r\n\r\n";
            let mut out =
                format!("HPUB {s} {} {}\r\n", hdr.len(), hdr.len() + p.len()).into_bytes();
            out.extend_from_slice(hdr);
            out.extend_from_slice(&p);
            out.extend_from_slice(b"\r\n");
            out
        }),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(op(), 1..12).prop_map(|ops| ops.concat())
}

proptest! {
    #[test]
    fn cuts_do_not_change_ops(data in stream(), cuts in proptest::collection::vec(1usize..64, 1..40)) {
        let whole = protocol::parser::fuzz_run(&data, &mut |left| left);
        prop_assert!(whole.1.is_none(), "valid stream failed: {:?}", whole.1);
        let mut i = 0;
        let chunked = protocol::parser::fuzz_run(&data, &mut |_| { i += 1; cuts[i % cuts.len()] });
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300), seed in any::<u8>()) {
        protocol::parser::fuzz_check_whole(&data);
        protocol::parser::fuzz_check_chunked(&data, seed);
    }

    #[test]
    fn mutated_valid_streams_agree_when_split(data in stream(), flip in any::<(usize, u8)>(), seed in any::<u8>()) {
        let mut data = data;
        let at = flip.0 % data.len();
        data[at] = flip.1;
        protocol::parser::fuzz_check_chunked(&data, seed);
    }
}
