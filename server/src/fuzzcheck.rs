//! Fuzz checks for the server's parsers, shared by the cargo-fuzz targets (`fuzz/`) and the
//! corpus replay test (`server/tests/fuzz_corpus.rs`): each takes any bytes and must neither
//! panic nor hang. Nothing here runs in the server.

use std::path::Path;

/// A client's CONNECT JSON, and every server-to-server INFO and CONNECT JSON (routes, leaf
/// nodes, gateways), as the parsers hand them over.
pub fn connect_json(data: &[u8]) {
    let _ = crate::connect::ConnectOpts::decode(data);
    let _ = serde_json::from_slice::<crate::cluster::wire::RouteInfo>(data);
    let _ = serde_json::from_slice::<crate::cluster::wire::RouteConnect>(data);
    let _ = serde_json::from_slice::<crate::leaf::wire::LeafInfo>(data);
    let _ = serde_json::from_slice::<crate::leaf::wire::LeafConnect>(data);
    if let Ok(info) = serde_json::from_slice::<crate::gateway::wire::GatewayInfo>(data) {
        let _ = info.to_line();
    }
    let _ = serde_json::from_slice::<crate::gateway::wire::GatewayConnect>(data);
}

/// A configuration file: lexed and parsed (includes resolved against `dir`, which the
/// caller makes a scratch directory), then turned into options and validated.
pub fn config(data: &[u8], dir: &Path) {
    let text = String::from_utf8_lossy(data);
    let Ok(map) = crate::conf::parse_str(&text, Some(dir)) else {
        return;
    };
    let _ = crate::conf::config_digest(&map);
    if let Ok((opts, _)) = crate::opts::Options::from_config(&map, None) {
        let _ = opts.validate();
    }
}

/// JWTs (decoded and verified as every kind the server reads) and creds files.
pub fn jwt(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let token = crate::jwt::undecorate(&text);
    let _ = crate::jwt::decode_generic(&token);
    let _ = crate::jwt::peek(&token);
    let _ = crate::jwt::decode::<crate::jwt::User>(&token);
    let _ = crate::jwt::decode::<crate::jwt::Account>(&token);
    let _ = crate::jwt::decode::<crate::jwt::Operator>(&token);
}

/// A monitoring-port request head.
pub fn http_head(data: &[u8]) {
    crate::monitor::http::fuzz_check_head(data);
}

/// Go's duration syntax, `host:port` splitting and the URL forms of routes, leaf remotes
/// and gateways.
pub fn go_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::gofmt::parse_go_duration(&text);
    let _ = crate::gofmt::go_split_host_port(&text);
    let _ = crate::gofmt::go_quote(&text);
    let _ = crate::opts::leaf::LeafUrl::parse(&text).map(|u| (u.to_string(), u.host_port()));
    let _ = crate::opts::gateway::GatewayUrl::parse(&text).map(|u| u.host_port());
}

/// The WebSocket port's input: the upgrade request (and a hub's answer to a dialing leaf
/// node), then frames. The first byte picks the decoder's settings and how the frames are cut
/// into reads; decoding in one piece and in reads must agree, and a read is always taken
/// (a decoder that took nothing would stall the connection).
pub fn websocket(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let opts = crate::opts::WebsocketOpts {
        port: 1,
        no_tls: true,
        compression: mode & 1 != 0,
        same_origin: mode & 2 != 0,
        ..crate::opts::WebsocketOpts::default()
    };
    let _ = crate::websocket::upgrade(rest, &opts, mode & 4 != 0);
    let _ = crate::websocket::check_answer(rest, "dGhlIHNhbXBsZSBub25jZQ==", true, true);
    let (deflate, masked) = (mode & 1 != 0, mode & 8 == 0);
    let whole = ws_decode(rest, deflate, masked, rest.len().max(1));
    let step = usize::from(mode >> 4) + 1;
    let cut = ws_decode(rest, deflate, masked, step);
    assert_eq!(whole, cut, "decoding in reads of {step} bytes differs");
}

/// The data, controls and error the frame decoder makes of `input` fed `step` bytes at a
/// time, inflating compressed messages in place as the worker does.
fn ws_decode(input: &[u8], deflate: bool, masked: bool, step: usize) -> WsDecoded {
    use protocol::ws::{Control, Decoder};
    const MAX_PAYLOAD: usize = 64 * 1024;
    let mut decoder = Decoder::new(deflate, masked, 8 * MAX_PAYLOAD);
    let mut out = WsDecoded::default();
    let mut controls = Vec::new();
    for piece in input.chunks(step) {
        let mut at = 0;
        while at < piece.len() {
            let decoded = decoder.decode(&piece[at..], &mut out.data, &mut controls);
            // What came before an error is still handled, as the worker does.
            let failed = match decoded {
                Ok(0) => panic!("the decoder took nothing of {} bytes", piece.len() - at),
                Ok(n) => {
                    at += n;
                    None
                }
                Err(e) => Some(e.reason),
            };
            for control in controls.drain(..) {
                match control {
                    Control::Compressed(packed) => {
                        if let Err(why) =
                            crate::websocket::inflate(packed, MAX_PAYLOAD, &mut out.data)
                        {
                            out.error = Some(why);
                            return out;
                        }
                    }
                    other => out.controls.push(other),
                }
            }
            if failed.is_some() {
                out.error = failed;
                return out;
            }
        }
    }
    out
}

/// What [`ws_decode`] made of a stream.
#[derive(Debug, Default, PartialEq)]
struct WsDecoded {
    data: Vec<u8>,
    controls: Vec<protocol::ws::Control>,
    error: Option<String>,
}
