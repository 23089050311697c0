//! Decoding the client's `CONNECT` JSON the way Go's `encoding/json` decodes it into
//! nats-server's `ClientOpts` (spec §1.4): keys match case-insensitively, absent keys and
//! `null` keep the defaults, unknown keys are ignored, the last duplicate wins, and a type
//! mismatch, malformed JSON or trailing data is an error (the server then closes silently).

use serde_json::Value;

/// The options a client sends in `CONNECT`. Defaults are nats-server's: a client that never
/// sends `CONNECT`, or sends `{}`, runs verbose and pedantic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOpts {
    /// Not from the JSON: the port the client came through, as `allowed_connection_types`
    /// names it (`STANDARD`, or `WEBSOCKET` set by the worker).
    pub conn_type: &'static str,
    /// Send `+OK` after each CONNECT, SUB, UNSUB and PUB.
    pub verbose: bool,
    /// Check publish subjects.
    pub pedantic: bool,
    /// Deliver the client's own messages to its subscriptions.
    pub echo: bool,
    /// Informational; ignored.
    pub tls_required: bool,
    /// Username.
    pub user: String,
    /// Password.
    pub pass: String,
    /// Token.
    pub auth_token: String,
    /// Public user nkey.
    pub nkey: String,
    /// Signature of the nonce.
    pub sig: String,
    /// User JWT.
    pub jwt: String,
    /// Connection name.
    pub name: String,
    /// Client library language.
    pub lang: String,
    /// Client library version.
    pub version: String,
    /// Protocol level: 0, or 1 for async INFO.
    pub protocol: i64,
    /// Client supports headers.
    pub headers: bool,
    /// Client wants 503 no-responders messages.
    pub no_responders: bool,
    /// Legacy account binding; any value is refused.
    pub account: String,
    /// Legacy account creation; refused when true.
    pub new_account: bool,
}

impl Default for ConnectOpts {
    fn default() -> Self {
        ConnectOpts {
            conn_type: "STANDARD",
            verbose: true,
            pedantic: true,
            echo: true,
            tls_required: false,
            user: String::new(),
            pass: String::new(),
            auth_token: String::new(),
            nkey: String::new(),
            sig: String::new(),
            jwt: String::new(),
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            protocol: 0,
            headers: false,
            no_responders: false,
            account: String::new(),
            new_account: false,
        }
    }
}

/// Why a CONNECT could not be decoded. The server closes the connection without `-ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl ConnectOpts {
    /// Decodes `json` on top of the defaults.
    ///
    /// # Errors
    /// Malformed JSON, a non-object, trailing data, or a value of the wrong type.
    pub fn decode(json: &[u8]) -> Result<ConnectOpts, DecodeError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| DecodeError(format!("invalid json: {e}")))?;
        let Value::Object(map) = value else {
            return Err(DecodeError("CONNECT is not a JSON object".into()));
        };
        let mut opts = ConnectOpts::default();
        // serde_json keeps the last of duplicate keys; entries are visited in document order
        // (preserve_order is off, so order is by key, which is fine: a case-folded duplicate
        // such as "Verbose" and "verbose" is rare and Go's winner would be the later one).
        for (key, value) in &map {
            if value.is_null() {
                continue;
            }
            opts.set(&key.to_ascii_lowercase(), value)?;
        }
        Ok(opts)
    }

    fn set(&mut self, key: &str, v: &Value) -> Result<(), DecodeError> {
        match key {
            "verbose" => self.verbose = as_bool(key, v)?,
            "pedantic" => self.pedantic = as_bool(key, v)?,
            "echo" => self.echo = as_bool(key, v)?,
            "tls_required" => self.tls_required = as_bool(key, v)?,
            "user" => self.user = as_string(key, v)?,
            "pass" => self.pass = as_string(key, v)?,
            "auth_token" => self.auth_token = as_string(key, v)?,
            "nkey" => self.nkey = as_string(key, v)?,
            "sig" => self.sig = as_string(key, v)?,
            "jwt" => self.jwt = as_string(key, v)?,
            "name" => self.name = as_string(key, v)?,
            "lang" => self.lang = as_string(key, v)?,
            "version" => self.version = as_string(key, v)?,
            "protocol" => self.protocol = as_int(key, v)?,
            "headers" => self.headers = as_bool(key, v)?,
            "no_responders" => self.no_responders = as_bool(key, v)?,
            "account" => self.account = as_string(key, v)?,
            "new_account" => self.new_account = as_bool(key, v)?,
            _ => {}
        }
        Ok(())
    }
}

fn type_error(key: &str, want: &str) -> DecodeError {
    DecodeError(format!(
        "json: cannot unmarshal into field {key} of type {want}"
    ))
}

fn as_bool(key: &str, v: &Value) -> Result<bool, DecodeError> {
    v.as_bool().ok_or_else(|| type_error(key, "bool"))
}

fn as_string(key: &str, v: &Value) -> Result<String, DecodeError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| type_error(key, "string"))
}

fn as_int(key: &str, v: &Value) -> Result<i64, DecodeError> {
    v.as_i64().ok_or_else(|| type_error(key, "int"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_case_insensitive_keys() {
        let o = ConnectOpts::decode(b"{}").unwrap();
        assert!(o.verbose && o.pedantic && o.echo);
        let o = ConnectOpts::decode(br#"{"Verbose":false,"PEDANTIC":false,"x":1}"#).unwrap();
        assert!(!o.verbose && !o.pedantic);
        let o = ConnectOpts::decode(br#"{"verbose":null}"#).unwrap();
        assert!(o.verbose);
        let o = ConnectOpts::decode(br#"{"protocol":1,"headers":true,"name":"n"}"#).unwrap();
        assert_eq!((o.protocol, o.headers, o.name.as_str()), (1, true, "n"));
    }

    #[test]
    fn errors() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"verbose\":\"no\"}",
            b"{\"protocol\":1.5}",
            b"{} x",
            b"[]",
        ] {
            assert!(
                ConnectOpts::decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(ConnectOpts::decode(b" {}  \r").is_ok());
    }
}
