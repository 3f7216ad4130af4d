//! Reading requests without axum's plain-text rejections: JSON bodies (content type, size,
//! syntax, then each field by name), query strings and path segments.

use std::collections::HashMap;

use axum::body::Body;
use http::request::Parts;
use http::{StatusCode, header};
use serde_json::{Map, Value};

use crate::DevPortal;
use crate::error::RestError;

/// A JSON object body, checked for content type, size and syntax; fields are read by name so
/// that a failure names the field.
pub(crate) struct JsonObject(pub(crate) Map<String, Value>);

impl JsonObject {
    /// Reads the body of a request whose head is `parts`.
    pub(crate) async fn read(
        portal: &DevPortal,
        parts: &Parts,
        body: Body,
    ) -> Result<Self, RestError> {
        let json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !json {
            return Err(RestError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                415,
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        let limit = portal.settings.max_body_bytes;
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            RestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                413,
                format!("the request body is larger than {limit} bytes"),
            )
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            // serde_json's message names a line and column, never the input.
            RestError::invalid("body", format!("malformed JSON: {e}"))
        })?;
        match value {
            Value::Object(map) => Ok(JsonObject(map)),
            _ => Err(RestError::invalid("body", "must be a JSON object")),
        }
    }
}

impl JsonObject {
    fn field(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A string field that must be present.
    pub(crate) fn required_str(&self, name: &'static str) -> Result<&str, RestError> {
        self.optional_str(name)?
            .ok_or_else(|| RestError::invalid(name, "is required"))
    }

    /// A string field that may be absent (or null).
    pub(crate) fn optional_str(&self, name: &'static str) -> Result<Option<&str>, RestError> {
        match self.field(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(RestError::invalid(name, "must be a string")),
        }
    }

    /// An array of strings that may be absent.
    pub(crate) fn optional_strings(&self, name: &'static str) -> Result<Vec<String>, RestError> {
        match self.field(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(RestError::invalid(name, "must be an array of strings")),
                })
                .collect(),
            Some(_) => Err(RestError::invalid(name, "must be an array of strings")),
        }
    }

    /// An integer field that may be absent.
    pub(crate) fn optional_i64(&self, name: &'static str) -> Result<Option<i64>, RestError> {
        match self.field(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| RestError::invalid(name, "must be an integer")),
            Some(_) => Err(RestError::invalid(name, "must be an integer")),
        }
    }

    /// An object field that may be absent.
    pub(crate) fn optional_object(&self, name: &'static str) -> Result<(), RestError> {
        match self.field(name) {
            None | Some(Value::Object(_)) => Ok(()),
            Some(_) => Err(RestError::invalid(name, "must be an object")),
        }
    }
}

/// Query parameters; a repeated name keeps its first value.
pub(crate) fn query(raw: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        out.entry(name.into_owned()).or_insert(value.into_owned());
    }
    out
}

/// A non-negative integer query parameter, `default` when absent.
pub(crate) fn query_usize(
    query: &HashMap<String, String>,
    name: &'static str,
    default: usize,
) -> Result<usize, RestError> {
    match query.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| RestError::invalid(name, "must be a non-negative integer")),
    }
}
