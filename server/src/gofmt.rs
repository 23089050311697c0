//! Go's text formats, as nats-server prints and parses them: durations (`time.ParseDuration`,
//! `Duration.String`), floats (`%v`), `%q` quoting, `strconv.ParseBool`/`ParseInt` and
//! `net.SplitHostPort`, each with Go's error texts.
//!
//! A leaf module: config, flags, TLS and the system services all format and parse these, so
//! they live below all of them.

use std::time::Duration;

/// Nanoseconds in a second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A non-negative nanosecond count as a `Duration`; `None` when negative.
pub fn positive_duration(nanos: i64) -> Option<Duration> {
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// Parses a Go duration (`time.ParseDuration`): a sequence of decimal
/// numbers, each with an optional fraction and a unit (`ns`, `us`, `µs`,
/// `ms`, `s`, `m`, `h`), with an optional sign. Returns nanoseconds, or Go's
/// error text.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_time_quote(text));
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    // Accumulated as u64 up to 2^63 so that -2^63 is representable.
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_digits, after) = rest.split_at(int_len);
        let whole = leading_int(int_digits).ok_or_else(invalid)?;
        rest = after;
        let (mut frac, mut scale, mut frac_digits) = (0_u64, 1.0_f64, 0);
        if let Some(after_dot) = rest.strip_prefix('.') {
            frac_digits = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            (frac, scale) = leading_fraction(&after_dot[..frac_digits]);
            rest = &after_dot[frac_digits..];
        }
        if int_len == 0 && frac_digits == 0 {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                go_time_quote(text)
            ));
        }
        let (unit_text, after_unit) = rest.split_at(unit_len);
        rest = after_unit;
        let unit: u64 = match unit_text {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_time_quote(unit_text),
                    go_time_quote(text)
                ))
            }
        };
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        if frac > 0 {
            // Float maths, as in Go; exact enough for a nanosecond count.
            value += (frac as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total = total
            .checked_add(value)
            .filter(|&t| t <= LIMIT)
            .ok_or_else(invalid)?;
    }
    if negative {
        return Ok(0_i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// The integer part of a duration component; `None` on overflow.
fn leading_int(digits: &str) -> Option<u64> {
    let mut value: u64 = 0;
    for d in digits.bytes() {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        if value > 1 << 63 {
            return None;
        }
    }
    Some(value)
}

/// The fraction digits of a duration component, as a value and a scale; digits beyond
/// what fits are ignored (Go's `leadingFraction`: it stops once the value passes
/// (2^63 - 1) / 10, before multiplying).
fn leading_fraction(digits: &str) -> (u64, f64) {
    const STOP_ABOVE: u64 = ((1 << 63) - 1) / 10;
    let (mut value, mut scale) = (0_u64, 1.0_f64);
    for d in digits.bytes() {
        if value > STOP_ABOVE {
            break;
        }
        let next = value * 10 + u64::from(d - b'0');
        if next > 1 << 63 {
            break;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale)
}

/// How Go's `time` package quotes a string in its errors.
pub fn go_time_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if c.is_ascii() && c >= ' ' {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        }
    }
    out.push('"');
    out
}

/// Formats a duration like Go's `Duration.String`: `2m0s`, `10s`, `1.5s`,
/// `250ms`, `1h30m0s`.
pub fn go_duration_string(d: Duration) -> String {
    go_nanos_string(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// [`go_duration_string`] of a signed nanosecond count (Go durations may be negative).
pub fn go_nanos_string(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000_000_000 {
        let (unit, precision) = match u {
            0..=999 => ("ns", 0),
            1_000..=999_999 => ("\u{b5}s", 3),
            _ => ("ms", 6),
        };
        let (int, frac) = split_fraction(u, precision);
        return format!("{sign}{int}{frac}{unit}");
    }
    let (secs, frac) = split_fraction(u, 9);
    let (mins, secs) = (secs / 60, secs % 60);
    let (hours, mins) = (mins / 60, mins % 60);
    match (hours, mins) {
        (0, 0) => format!("{sign}{secs}{frac}s"),
        (0, _) => format!("{sign}{mins}m{secs}{frac}s"),
        _ => format!("{sign}{hours}h{mins}m{secs}{frac}s"),
    }
}

/// Splits `value` into `value / 10^precision` and the fraction digits as
/// `.ddd` without trailing zeros (empty if the fraction is zero).
fn split_fraction(value: u64, precision: u32) -> (u64, String) {
    let scale = 10_u64.pow(precision);
    let frac = value % scale;
    if frac == 0 {
        return (value / scale, String::new());
    }
    let digits = format!("{frac:0width$}", width = precision as usize);
    (value / scale, format!(".{}", digits.trim_end_matches('0')))
}

/// Formats a float like Go's `%v`: the shortest digits that read back
/// exactly, in exponent form when the exponent is below -4 or at least 6
/// (`0.5`, `123456`, `1e+06`).
pub fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let scientific = format!("{f:e}");
    let (mantissa, exp) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// Go's `net.SplitHostPort`, with its error texts.
pub fn go_split_host_port(hostport: &str) -> Result<(String, String), String> {
    let fail = |why: &str| {
        if hostport.is_empty() {
            Err(why.to_string())
        } else {
            Err(format!("address {hostport}: {why}"))
        }
    };
    let Some(colon) = hostport.rfind(':') else {
        return fail("missing port in address");
    };
    let (host, after_host) = if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return fail("missing ']' in address");
        };
        if end + 1 == hostport.len() {
            return fail("missing port in address");
        }
        if end + 1 != colon {
            if hostport.as_bytes()[end + 1] == b':' {
                return fail("too many colons in address");
            }
            return fail("missing port in address");
        }
        (&hostport[1..end], end + 1)
    } else {
        let host = &hostport[..colon];
        if host.contains(':') {
            return fail("too many colons in address");
        }
        (host, 0)
    };
    let before = if after_host > 0 { 1 } else { 0 };
    if hostport[before..].contains('[') {
        return fail("unexpected '[' in address");
    }
    if hostport[after_host..].contains(']') {
        return fail("unexpected ']' in address");
    }
    Ok((host.to_string(), hostport[colon + 1..].to_string()))
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(text, 0, 64)`: an optional sign, then decimal,
/// `0x` hex, `0o` or leading-`0` octal, or `0b` binary, with `_` allowed
/// between digits. The error is the reason text Go's `flag` package prints.
pub fn parse_go_int(text: &str) -> Result<i64, &'static str> {
    const SYNTAX: &str = "parse error";
    const RANGE: &str = "value out of range";
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if !underscores_ok(digits, prefixed) {
        return Err(SYNTAX);
    }
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(SYNTAX);
    }
    let magnitude = u64::from_str_radix(&digits, radix).map_err(|_| RANGE)?;
    if negative {
        0_i64.checked_sub_unsigned(magnitude).ok_or(RANGE)
    } else {
        i64::try_from(magnitude).map_err(|_| RANGE)
    }
}

/// Go allows `_` only between digits, or between a base prefix (a leading
/// `0` counts) and a digit.
fn underscores_ok(digits: &str, prefixed: bool) -> bool {
    let mut prev_digit = prefixed;
    for c in digits.chars() {
        if c == '_' {
            if !prev_digit {
                return false;
            }
            prev_digit = false;
        } else {
            prev_digit = true;
        }
    }
    !digits.ends_with('_')
}

/// A string quoted the way Go's `%q` does it, for error messages.
pub fn go_quote(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    protocol::errors::push_go_quoted(&mut out, text.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `go_text` fuzz target: a fraction whose value times ten plus the next
    /// digit passed 2^64 overflowed (a panic with overflow checks, a fraction of 0 without).
    /// Go stops taking digits there; `time.ParseDuration` gives 184.46744ms for this.
    #[test]
    fn long_fractions_stop_where_go_stops() {
        assert_eq!(
            parse_go_duration("0.18446744073709551616s"),
            Ok(184_467_440)
        );
        assert_eq!(
            parse_go_duration(".000000000000018446744073709551616s"),
            Ok(0)
        );
        assert_eq!(
            parse_go_duration("1.99999999999999999999999h"),
            Ok(7_200_000_000_000)
        );
    }

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse_go_duration(s).unwrap();
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("2s"), 2 * NANOS_PER_SEC);
        assert_eq!(ok("1m30s"), 90 * NANOS_PER_SEC);
        assert_eq!(ok("1.5h"), 5400 * NANOS_PER_SEC);
        assert_eq!(ok("250ms"), 250_000_000);
        assert_eq!(ok("1us"), 1000);
        assert_eq!(ok("1µs"), 1000);
        assert_eq!(ok(".5s"), 500_000_000);
        assert_eq!(ok("-1.5s"), -1_500_000_000);
        assert_eq!(ok("+3ns"), 3);
        assert_eq!(ok("2562047h47m16.854775807s"), i64::MAX);
        assert_eq!(ok("-2562047h47m16.854775808s"), i64::MIN);
        assert_eq!(
            parse_go_duration("").unwrap_err(),
            "time: invalid duration \"\""
        );
        assert_eq!(
            parse_go_duration("1").unwrap_err(),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            parse_go_duration(".s").unwrap_err(),
            "time: invalid duration \".s\""
        );
        assert_eq!(
            parse_go_duration("3d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"3d\""
        );
        assert_eq!(
            parse_go_duration("1é").unwrap_err(),
            "time: unknown unit \"\\xc3\\xa9\" in duration \"1\\xc3\\xa9\""
        );
        assert_eq!(
            parse_go_duration("2562047h47m16.854775808s").unwrap_err(),
            "time: invalid duration \"2562047h47m16.854775808s\""
        );
    }

    #[test]
    fn go_duration_strings() {
        let s = |ms: u64| go_duration_string(Duration::from_millis(ms));
        assert_eq!(s(0), "0s");
        assert_eq!(s(120_000), "2m0s");
        assert_eq!(s(10_000), "10s");
        assert_eq!(s(1_500), "1.5s");
        assert_eq!(s(250), "250ms");
        assert_eq!(s(5_400_000), "1h30m0s");
        assert_eq!(go_duration_string(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(go_duration_string(Duration::from_nanos(7)), "7ns");
        assert_eq!(go_nanos_string(-5 * NANOS_PER_SEC), "-5s");
    }

    #[test]
    fn go_floats() {
        assert_eq!(go_float(2.0), "2");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(120.5), "120.5");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
    }

    #[test]
    fn split_host_port_like_go() {
        assert_eq!(go_split_host_port("a:1").unwrap(), ("a".into(), "1".into()));
        assert_eq!(go_split_host_port(":1").unwrap(), ("".into(), "1".into()));
        assert_eq!(
            go_split_host_port("[::1]:2").unwrap(),
            ("::1".into(), "2".into())
        );
        assert_eq!(
            go_split_host_port("a").unwrap_err(),
            "address a: missing port in address"
        );
        assert_eq!(
            go_split_host_port("").unwrap_err(),
            "missing port in address"
        );
        assert_eq!(
            go_split_host_port("a:b:c").unwrap_err(),
            "address a:b:c: too many colons in address"
        );
        assert_eq!(
            go_split_host_port("[::1]").unwrap_err(),
            "address [::1]: missing port in address"
        );
        assert_eq!(
            go_split_host_port("[::1:2").unwrap_err(),
            "address [::1:2: missing ']' in address"
        );
        assert_eq!(
            go_split_host_port("a]:1").unwrap_err(),
            "address a]:1: unexpected ']' in address"
        );
    }
    #[test]
    fn go_integers() {
        assert_eq!(parse_go_int("4222"), Ok(4222));
        assert_eq!(parse_go_int("-1"), Ok(-1));
        assert_eq!(parse_go_int("+7"), Ok(7));
        assert_eq!(parse_go_int("0x10"), Ok(16));
        assert_eq!(parse_go_int("0o17"), Ok(15));
        assert_eq!(parse_go_int("017"), Ok(15));
        assert_eq!(parse_go_int("0b101"), Ok(5));
        assert_eq!(parse_go_int("0"), Ok(0));
        assert_eq!(parse_go_int("0x_1f"), Ok(31));
        assert_eq!(parse_go_int("1_000"), Ok(1000));
        assert_eq!(parse_go_int("_1"), Err("parse error"));
        assert_eq!(parse_go_int("0_1"), Ok(1));
        assert_eq!(parse_go_int("0x1__f"), Err("parse error"));
        assert_eq!(parse_go_int("0x1f_"), Err("parse error"));
        assert_eq!(parse_go_int("08"), Err("parse error"));
        assert_eq!(parse_go_int(""), Err("parse error"));
        assert_eq!(parse_go_int("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            parse_go_int("9223372036854775808"),
            Err("value out of range")
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }
}
