//! The router's OpenAPI document against the relevant parts of WSO2's (the fixture
//! `fixtures/wso2-devportal.json`): paths, methods, parameters, request and success bodies,
//! scopes, schema fields, their types and the required ones. Every difference is one of the
//! deliberate ones listed here, and each of those is still a difference (so that the list
//! cannot go stale).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::{Portal, alice};

/// Parameters of WSO2's that the router does not read: tenancy and groups are the embedder's
/// (one organization per router), and there are no ETags.
const UNREAD_PARAMETERS: &[&str] = &[
    "organizationId:query",
    "groupId:query",
    "X-WSO2-Tenant:header",
    "If-None-Match:header",
    "If-Match:header",
];

/// Operations served beyond WSO2's document.
const ADDED_OPERATIONS: &[&str] =
    &["DELETE /applications/{applicationId}/oauth-keys/{keyMappingId}"];

/// Schema fields of WSO2's that keyprov never returns or reads.
const ABSENT_FIELDS: &[(&str, &str)] = &[
    // The secret is never stored, so never returned.
    ("ApplicationKey", "consumerSecret"),
    // No application groups.
    ("ApplicationKey", "groupId"),
    // The API and application are given by id only.
    ("Subscription", "apiInfo"),
    ("Subscription", "applicationInfo"),
];

/// Fields added to WSO2's schemas.
const ADDED_FIELDS: &[(&str, &str)] = &[
    // WSO2 API Manager 4.x's `MAPPED` / `CREATED`.
    ("ApplicationKey", "mode"),
];

/// Fields required here and not in WSO2's document.
const ADDED_REQUIRED: &[(&str, &str)] = &[
    // keyprov subscribes applications to APIs: no API products.
    ("Subscription", "apiId"),
];

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/wso2-devportal.json")).unwrap()
}

fn schema_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap()
}

/// A property's type in the fixture's notation; references to enums are resolved.
fn type_of(schema: &Value, schemas: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = schema_name(reference);
        let target = &schemas[name];
        if target.get("enum").is_some() {
            return type_of(target, schemas);
        }
        return name.to_owned();
    }
    let kind = schema["type"].as_str().unwrap_or("object");
    match kind {
        "array" => format!("array<{}>", type_of(&schema["items"], schemas)),
        "string" => match schema.get("enum").and_then(Value::as_array) {
            Some(values) => format!(
                "string enum {}",
                values
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            None => "string".to_owned(),
        },
        other => other.to_owned(),
    }
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Our operations in the fixture's notation.
fn operations(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let parameters: Vec<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let required = if p["required"] == true { "!" } else { "" };
                            format!(
                                "{}:{}{required}",
                                p["name"].as_str().unwrap(),
                                p["in"].as_str().unwrap()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .map(|r| schema_name(r).to_owned());
            let (status, response) = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(s, _)| s.starts_with('2'))
                .unwrap();
            let success = match response["content"]["application/json"]["schema"]["$ref"].as_str() {
                Some(r) => format!("{status} {}", schema_name(r)),
                None => status.clone(),
            };
            let scopes = op["security"][0]["OAuth2Security"].clone();
            out.insert(
                format!("{} {path}", method.to_uppercase()),
                serde_json::json!({
                    "parameters": parameters,
                    "requestBody": body,
                    "success": success,
                    "scopes": scopes,
                }),
            );
        }
    }
    out
}

#[test]
fn operations_match_wso2_but_for_the_listed_differences() {
    let ours = operations(&serde_json::to_value(keyprov_rest::openapi()).unwrap());
    let theirs = fixture();
    let theirs = theirs["operations"].as_object().unwrap();
    let mut unread_seen = BTreeSet::new();
    for (key, wso2) in theirs {
        let mine = ours
            .get(key)
            .unwrap_or_else(|| panic!("{key} is not served"));
        for field in ["requestBody", "success"] {
            assert_eq!(mine[field], wso2[field], "{key}: {field}");
        }
        assert_eq!(
            strings(&mine["scopes"]),
            strings(&wso2["scopes"]),
            "{key}: scopes"
        );
        let mine_params = strings(&mine["parameters"]);
        for param in strings(&wso2["parameters"]) {
            if UNREAD_PARAMETERS.contains(&param.as_str()) {
                assert!(
                    !mine_params.contains(&param),
                    "{key}: {param} is listed as unread"
                );
                unread_seen.insert(param);
            } else {
                assert!(
                    mine_params.contains(&param),
                    "{key}: parameter {param} missing"
                );
            }
        }
        let theirs_params = strings(&wso2["parameters"]);
        for param in &mine_params {
            assert!(
                theirs_params.contains(param),
                "{key}: parameter {param} is not WSO2's"
            );
        }
    }
    assert_eq!(
        unread_seen.len(),
        UNREAD_PARAMETERS.len(),
        "a listed parameter never differs"
    );
    let added: BTreeSet<_> = ours
        .keys()
        .filter(|k| !theirs.contains_key(*k))
        .cloned()
        .collect();
    let listed: BTreeSet<_> = ADDED_OPERATIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(added, listed, "operations beyond WSO2's");
}

#[test]
fn schemas_match_wso2_but_for_the_listed_differences() {
    let doc = serde_json::to_value(keyprov_rest::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let theirs = fixture();
    let mut differences = BTreeSet::new();
    for (name, wso2) in theirs["schemas"].as_object().unwrap() {
        let mine = &schemas[name];
        assert!(mine.is_object(), "schema {name} missing");
        let mine_props = mine["properties"].as_object().unwrap();
        let wso2_props = wso2["properties"].as_object().unwrap();
        for (field, kind) in wso2_props {
            match mine_props.get(field) {
                Some(schema) => assert_eq!(
                    type_of(schema, schemas),
                    kind.as_str().unwrap(),
                    "{name}.{field}"
                ),
                None => {
                    assert!(
                        ABSENT_FIELDS.contains(&(name, field)),
                        "{name}.{field} missing"
                    );
                    differences.insert(format!("{name}.{field}"));
                }
            }
        }
        for field in mine_props.keys() {
            if !wso2_props.contains_key(field) {
                assert!(
                    ADDED_FIELDS.contains(&(name, field)),
                    "{name}.{field} is not WSO2's"
                );
                differences.insert(format!("{name}.{field}"));
            }
        }
        let mine_required = strings(&mine["required"]);
        let wso2_required = strings(&wso2["required"]);
        for field in wso2_required.symmetric_difference(&mine_required) {
            assert!(
                ADDED_REQUIRED.contains(&(name, field)) && mine_required.contains(field),
                "{name}: {field} required on one side only"
            );
            differences.insert(format!("{name}.{field} required"));
        }
    }
    let listed = ABSENT_FIELDS.len() + ADDED_FIELDS.len() + ADDED_REQUIRED.len();
    assert_eq!(
        differences.len(),
        listed,
        "a listed difference is none: {differences:?}"
    );
}

/// The served document is the generated one, at the documented path, without a token.
#[tokio::test]
async fn the_router_serves_its_document() {
    let portal = Portal::start(alice()).await;
    let response = reqwest::get(portal.url(keyprov_rest::OPENAPI_PATH))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    assert_eq!(
        served,
        serde_json::to_value(keyprov_rest::openapi()).unwrap()
    );
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));
}
