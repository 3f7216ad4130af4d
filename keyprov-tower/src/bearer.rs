//! Reading the bearer token of a request (RFC 6750 §2.1).

use http::{HeaderMap, HeaderName};

/// What the request carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// A token: the header's value after `Bearer` and spaces, without whitespace.
    Token(&'a [u8]),
    /// No header, or an `Authorization` header of another scheme (`Basic ...`): no bearer
    /// credentials at all (RFC 6750 §3.1: answered without an error code).
    Missing,
    /// A header that is there but is not `Bearer <token>` (RFC 6750 §3.1 `invalid_request`).
    Malformed(&'static str),
}

const SCHEME: &[u8] = b"bearer";

/// Reads the credentials from `name`. With the `Authorization` header the scheme must be
/// `Bearer` (any case); with a custom header, `Bearer ` is optional and the rest is the token.
pub(crate) fn credentials<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Credentials<'a> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Credentials::Missing;
    };
    if values.next().is_some() {
        return Credentials::Malformed("the request has more than one credentials header");
    }
    let value = value.as_bytes();
    let custom = name != http::header::AUTHORIZATION;
    let token = match split_scheme(value) {
        Some(rest) => rest,
        None if custom => value,
        None if is_bearer(value) => {
            return Credentials::Malformed("the Bearer scheme has no token");
        }
        // Another scheme: no bearer credentials (Basic, Digest, ...).
        None => return Credentials::Missing,
    };
    if token.is_empty() {
        return Credentials::Malformed("the Bearer scheme has no token");
    }
    // Whitespace inside makes the header more than `Bearer <token>`. Which characters a
    // token may contain is the resolver's first check, made once per distinct token (a
    // repeated token is found in its cache); here a SIMD search keeps the cost per request
    // far below that of a cache hit.
    if memchr::memchr2(b' ', b'\t', token).is_some() {
        return Credentials::Malformed("the bearer token contains whitespace");
    }
    Credentials::Token(token)
}

fn is_bearer(value: &[u8]) -> bool {
    value.eq_ignore_ascii_case(SCHEME)
}

/// The text after `Bearer` and one or more spaces, when the scheme is `Bearer` (any case).
fn split_scheme(value: &[u8]) -> Option<&[u8]> {
    if value.len() <= SCHEME.len()
        || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME)
        || value[SCHEME.len()] != b' '
    {
        return None;
    }
    let rest = &value[SCHEME.len()..];
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    Some(&rest[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use http::header::AUTHORIZATION;

    fn read(values: &[&str], name: &HeaderName) -> String {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(name.clone(), HeaderValue::from_str(v).unwrap());
        }
        match credentials(&headers, name) {
            Credentials::Token(t) => format!("token {}", String::from_utf8_lossy(t)),
            Credentials::Missing => "missing".into(),
            Credentials::Malformed(_) => "malformed".into(),
        }
    }

    #[test]
    fn the_authorization_header() {
        let a = &AUTHORIZATION;
        assert_eq!(read(&[], a), "missing");
        assert_eq!(read(&["Bearer abc.def-_~+/"], a), "token abc.def-_~+/");
        assert_eq!(read(&["bearer abc"], a), "token abc");
        assert_eq!(read(&["BEARER  abc=="], a), "token abc==");
        assert_eq!(read(&["Basic dXNlcjpwYXNz"], a), "missing");
        assert_eq!(read(&["Token abc"], a), "missing");
        assert_eq!(read(&["Bearer"], a), "malformed");
        assert_eq!(read(&["Bearer "], a), "malformed");
        assert_eq!(read(&["Bearerabc"], a), "missing");
        assert_eq!(read(&["Bearer a b"], a), "malformed");
        assert_eq!(read(&["Bearer a\tb"], a), "malformed");
        // The token's own syntax is the resolver's to check.
        assert_eq!(read(&["Bearer a,b"], a), "token a,b");
        assert_eq!(read(&["Bearer a", "Bearer b"], a), "malformed");
    }

    #[test]
    fn a_custom_header_takes_the_token_with_or_without_the_scheme() {
        let h = HeaderName::from_static("x-api-token");
        assert_eq!(read(&["abc.def"], &h), "token abc.def");
        assert_eq!(read(&["Bearer abc.def"], &h), "token abc.def");
        assert_eq!(read(&["abc def"], &h), "malformed");
        assert_eq!(read(&[], &h), "missing");
        // The Authorization header is not read when another is configured.
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(credentials(&headers, &h), Credentials::Missing);
    }
}
