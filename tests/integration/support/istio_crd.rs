//! Validates emitted Istio objects against Istio's own CRD schemas
//! (`testdata/istio/crd-all.gen.yaml`, from Istio 1.30.3), the way the API
//! server would, only stricter:
//!
//! - the OpenAPI schema of the object's kind and version, with unknown
//!   fields treated as errors (the API server would silently prune them,
//!   which hides template mistakes);
//! - every CEL rule (`x-kubernetes-validations`) on every node the object
//!   has, each evaluated by a small Rust equivalent; a rule with no
//!   equivalent fails the test, so a new rule in a newer CRD cannot slip by;
//! - the checks istiod's webhook makes that the schema cannot express and
//!   that matter here (STATIC resolution needs IP endpoints).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// Istio 1.30.3's `crd-all.gen.yaml`, copied into `testdata/istio/` (see its README).
pub fn crd_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/istio/crd-all.gen.yaml")
}

/// (group, version, kind) → openAPIV3Schema.
fn schemas() -> &'static HashMap<(String, String, String), Value> {
    static SCHEMAS: OnceLock<HashMap<(String, String, String), Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let path = crd_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the Istio CRDs must be at {}: {e}", path.display()));
        let mut out = HashMap::new();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let crd: Value = serde::Deserialize::deserialize(doc).expect("crd-all.gen.yaml is YAML");
            if crd.is_null() {
                continue;
            }
            let group = crd["spec"]["group"].as_str().unwrap().to_owned();
            let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_owned();
            for v in crd["spec"]["versions"].as_array().unwrap() {
                let version = v["name"].as_str().unwrap().to_owned();
                out.insert(
                    (group.clone(), version, kind.clone()),
                    v["schema"]["openAPIV3Schema"].clone(),
                );
            }
        }
        out
    })
}

/// Turns a structural OpenAPI schema into a JSON Schema that rejects
/// unknown fields.
fn strict(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = match k.as_str() {
                    "properties" => Value::Object(
                        v.as_object()
                            .unwrap()
                            .iter()
                            .map(|(p, s)| (p.clone(), strict(s)))
                            .collect(),
                    ),
                    "items" | "additionalProperties" if v.is_object() => strict(v),
                    "oneOf" | "anyOf" | "allOf" => Value::Array(v.as_array().unwrap().iter().map(strict).collect()),
                    _ => v.clone(),
                };
                out.insert(k.clone(), v);
            }
            let preserves = m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserves {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Every problem with one object; empty when it is valid.
pub fn validate(object: &Value) -> Vec<String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let Some(schema) = schemas().get(&(group.to_owned(), version.to_owned(), kind.to_owned())) else {
        return vec![format!("no CRD for {api_version} {kind}")];
    };
    let mut problems = Vec::new();
    let mut root = strict(schema);
    // The CRD lists only spec and status; the API server adds the rest.
    for field in ["apiVersion", "kind"] {
        root["properties"][field] = serde_json::json!({"type": "string"});
    }
    root["properties"]["metadata"] = serde_json::json!({"type": "object"});
    let validator = jsonschema::validator_for(&root).expect("CRD schema compiles");
    for e in validator.iter_errors(object) {
        problems.push(format!("schema: {} at {}", e, e.instance_path()));
    }
    check_metadata(object, &mut problems);
    check_cel(schema, object, "", &mut problems);
    check_istiod(kind, object, &mut problems);
    problems
}

fn check_metadata(object: &Value, problems: &mut Vec<String>) {
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if !label(name) {
        problems.push(format!("metadata.name {name:?} is not a DNS-1123 label"));
    }
    if let Some(ns) = meta["namespace"].as_str() {
        if !label(ns) {
            problems.push(format!("metadata.namespace {ns:?} is not a DNS-1123 label"));
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(m) = meta[field].as_object() {
            for (k, v) in m {
                if !v.is_string() {
                    problems.push(format!("metadata.{field}.{k} is not a string"));
                }
            }
        }
    }
}

fn has(v: &Value, field: &str) -> bool {
    v.get(field).is_some_and(|f| !f.is_null())
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

fn go_duration_ms(s: &str) -> Option<f64> {
    let units = [
        ("ms", 1.0),
        ("us", 0.001),
        ("µs", 0.001),
        ("ns", 0.000_001),
        ("h", 3_600_000.0),
        ("m", 60_000.0),
        ("s", 1000.0),
    ];
    let mut rest = s;
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let (unit, factor) = units.iter().find(|(u, _)| rest.starts_with(u))?;
        total += n * factor;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

/// The CEL rules of Istio's CRDs, each as Rust. Keyed by the rule text with
/// whitespace collapsed.
fn cel_rule(rule: &str) -> Option<fn(&Value) -> bool> {
    let f: fn(&Value) -> bool = match rule {
        "0 < self && self <= 65535" => |v| v.as_i64().is_some_and(|n| 0 < n && n <= 65535),
        r#"self.all(key, size(key) < 63 && key.matches("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$"))"# => |v| {
            v.as_object().unwrap().keys().all(|k| {
                k.len() < 63
                    && !k.is_empty()
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !k.starts_with('-')
                    && !k.ends_with('-')
            })
        },
        "has(self.address) || has(self.network)" => |v| has(v, "address") || has(v, "network"),
        r#"(has(self.address) ? self.address : "").startsWith("unix://") ? !has(self.ports) : true"# => {
            |v| !str_of(v, "address").starts_with("unix://") || !has(v, "ports")
        }
        r#"self.startsWith("unix://") ? (self.substring(7, 8) == "/" || self.substring(7, 8) == "@") : true"# => |v| {
            let s = v.as_str().unwrap();
            !s.starts_with("unix://") || matches!(s.get(7..8), Some("/") | Some("@"))
        },
        r#"self.startsWith("unix://") ? !self.endsWith("/") : true"# => |v| {
            let s = v.as_str().unwrap();
            !s.starts_with("unix://") || !s.ends_with('/')
        },
        r#"self != "*""# => |v| v.as_str() != Some("*"),
        "self.all(l1, self.exists_one(l2, l1.number == l2.number))" => |v| {
            let nums: Vec<&Value> = v.as_array().unwrap().iter().map(|p| &p["number"]).collect();
            nums.iter().all(|n| nums.iter().filter(|m| m == &n).count() == 1)
        },
        "(has(self.workloadSelector) ? 1 : 0) + (has(self.endpoints) ? 1 : 0) <= 1" => {
            |v| !(has(v, "workloadSelector") && has(v, "endpoints"))
        }
        r#"!((has(self.addresses) ? self.addresses : []).exists(k, k.contains("/")) && !((has(self.resolution) ? self.resolution : "NONE") in ["STATIC", "NONE"]))"# => |v| {
            let cidr = v["addresses"].as_array().is_some_and(|a| a.iter().any(|k| k.as_str().unwrap_or("").contains('/')));
            let res = if has(v, "resolution") { str_of(v, "resolution") } else { "NONE" };
            !cidr || ["STATIC", "NONE"].contains(&res)
        },
        r#"((has(self.resolution) ? self.resolution : "NONE") == "NONE") ? !has(self.endpoints) : true"# => {
            |v| !((if has(v, "resolution") { str_of(v, "resolution") } else { "NONE" }) == "NONE" && has(v, "endpoints"))
        }
        r#"((has(self.resolution) ? self.resolution : "") == "DNS_ROUND_ROBIN") ? ((has(self.endpoints) ? self.endpoints : []).size() <= 1) : true"# => {
            |v| str_of(v, "resolution") != "DNS_ROUND_ROBIN" || v["endpoints"].as_array().map_or(0, Vec::len) <= 1
        }
        r#"!self.contains("*")"# => |v| !v.as_str().unwrap().contains('*'),
        r#"self.all(key, !key.contains("*"))"# => |v| v.as_object().unwrap().keys().all(|k| !k.contains('*')),
        "self.all(key, key.size() != 0)" => |v| v.as_object().unwrap().keys().all(|k| !k.is_empty()),
        "(has(self.credentialName) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1" => {
            |v| !(has(v, "credentialName") && has(v, "credentialNames"))
        }
        "(has(self.credentialNames) ? 1 : 0) + (has(self.tlsCertificates) ? 1 : 0) <= 1"
        | "(has(self.tlsCertificates) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1" => {
            |v| !(has(v, "credentialNames") && has(v, "tlsCertificates"))
        }
        "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1" => {
            |v| ["selector", "targetRef", "targetRefs"].iter().filter(|f| has(v, f)).count() <= 1
        }
        "(has(self.serviceAccounts) || has(self.notServiceAccounts)) ? (!has(self.principals) && !has(self.notPrincipals) && !has(self.namespaces) && !has(self.notNamespaces)) : true" => |v| {
            !(has(v, "serviceAccounts") || has(v, "notServiceAccounts"))
                || ["principals", "notPrincipals", "namespaces", "notNamespaces"].iter().all(|f| !has(v, f))
        },
        "has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? self.selector.matchLabels : {}).size() > 0) : true" => {
            |v| !has(v, "portLevelMtls") || v["selector"]["matchLabels"].as_object().is_some_and(|m| !m.is_empty())
        }
        "self.all(key, 0 < int(key) && int(key) <= 65535)" => {
            |v| v.as_object().unwrap().keys().all(|k| k.parse::<i64>().is_ok_and(|n| 0 < n && n <= 65535))
        }
        "self.size() == 0" => |v| v.as_str().map_or(0, str::len) == 0,
        "duration(self) >= duration('1ms')" => |v| v.as_str().and_then(go_duration_ms).is_some_and(|ms| ms >= 1.0),
        _ => return None,
    };
    Some(f)
}

fn check_cel(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    if let Some(rules) = schema.get("x-kubernetes-validations").and_then(Value::as_array) {
        for r in rules {
            let text = r["rule"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            match cel_rule(&text) {
                Some(f) if f(value) => {}
                Some(_) => problems.push(format!(
                    "CEL at {path}: {} ({text})",
                    r["message"].as_str().unwrap_or("")
                )),
                None => problems.push(format!("CEL at {path}: no Rust equivalent for rule {text:?}; add one")),
            }
        }
    }
    if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), value.as_object()) {
        for (k, v) in obj {
            if let Some(s) = props.get(k) {
                check_cel(s, v, &format!("{path}.{k}"), problems);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check_cel(items, v, &format!("{path}[{i}]"), problems);
        }
    }
    if let (Some(ap), Some(obj)) = (
        schema.get("additionalProperties").filter(|a| a.is_object()),
        value.as_object(),
    ) {
        for (k, v) in obj {
            check_cel(ap, v, &format!("{path}.{k}"), problems);
        }
    }
}

/// What istiod's validating webhook rejects beyond the schema.
fn check_istiod(kind: &str, object: &Value, problems: &mut Vec<String>) {
    let spec = &object["spec"];
    if kind == "ServiceEntry" {
        if str_of(spec, "resolution") == "STATIC" {
            for e in spec["endpoints"].as_array().into_iter().flatten() {
                let a = str_of(e, "address");
                if a.parse::<IpAddr>().is_err() && !a.starts_with("unix://") {
                    problems.push(format!("istiod: STATIC resolution needs IP endpoints, got {a:?}"));
                }
            }
        }
        let names: BTreeMap<&str, ()> = spec["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (str_of(p, "name"), ()))
            .collect();
        for e in spec["endpoints"].as_array().into_iter().flatten() {
            for port_name in e["ports"].as_object().into_iter().flatten().map(|(k, _)| k) {
                if !names.contains_key(port_name.as_str()) {
                    problems.push(format!("istiod: endpoint port {port_name} names no service port"));
                }
            }
        }
        if spec["hosts"].as_array().is_none_or(Vec::is_empty) {
            problems.push("istiod: ServiceEntry needs hosts".into());
        }
    }
    if kind == "Gateway" {
        for s in spec["servers"].as_array().into_iter().flatten() {
            if s["hosts"].as_array().is_none_or(Vec::is_empty) {
                problems.push("istiod: Gateway server needs hosts".into());
            }
        }
    }
}

/// Splits a multi-document YAML text into JSON values.
pub fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("output is YAML"))
        .filter(|v: &Value| !v.is_null())
        .collect()
}
