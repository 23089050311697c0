//! Floats the way Go's `encoding/json` writes them: an integral value has no fraction (`0`,
//! `2`, not `0.0`, `2.0`); other values use the shortest form that reads back the same, as
//! both Go and serde_json do.

use serde::Serializer;

/// Largest magnitude Go still writes in plain (not exponent) form.
const PLAIN_MAX: f64 = 1e21;

/// Serializes `v` as Go would (for `#[serde(serialize_with = "…")]`).
///
/// # Errors
/// Whatever the serializer returns.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < PLAIN_MAX && v.abs() <= i64::MAX as f64 {
        return s.serialize_i64(*v as i64);
    }
    s.serialize_f64(*v)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize)]
    struct F(#[serde(serialize_with = "super::serialize")] f64);

    #[test]
    fn integral_floats_have_no_fraction() {
        let text = |v: f64| serde_json::to_string(&F(v)).unwrap();
        assert_eq!(text(0.0), "0");
        assert_eq!(text(2.0), "2");
        assert_eq!(text(-3.0), "-3");
        assert_eq!(text(0.5), "0.5");
        assert_eq!(text(0.123), "0.123");
    }
}
