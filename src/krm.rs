//! KRM function mode (kpt / kustomize functions spec v1): a `ResourceList`
//! in on stdin, the same list out on stdout with meshfed's objects added.
//!
//! The `functionConfig` says what to render: a `MeshFederationMember` (one
//! cluster, its `spec.federation` read from a file relative to the working
//! directory) or an inline `MeshFederation` (every cluster, each object given
//! the `<cluster>/<file>` path kpt writes it to). Root CAs may come from
//! ConfigMaps and Secrets among the items (`rootCA.configMaps`/`secrets`).
//!
//! Items are kept as `serde_norway::Value`, whose mappings keep their key
//! order, so every item meshfed does not own comes back field for field in
//! its place. YAML comments do not survive (no Rust YAML library keeps them
//! through a data model), and scalars come back in plain YAML style (a quoted
//! `"8080"` stays a string, quoted only as needed). Objects an earlier run of
//! the same federation generated are dropped and the new ones appended, so
//! running twice gives the same list. Problems become `results`; the items
//! come back even then, unchanged, and any error means exit 1.

use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use serde_norway::{Mapping, Value};

use crate::diagnostics::{Diagnostic, Diagnostics, Severity};
use crate::load::SpecSource;
use crate::model::{ObjectKind, ObjectSource, ObjectSources};
use crate::naming::{ANNOTATION_CLUSTER, LABEL_FEDERATION, LABEL_MANAGED_BY, MANAGER};
use crate::pipeline::{self, RenderOptions, Rendered};
use crate::spec::{MeshFederationMember, API_VERSION, KIND, MEMBER_KIND};

/// The file name diagnostics carry for an inline `MeshFederation`; it is not
/// a file, so results leave `file` out.
const INLINE: &str = "functionConfig";

const PATH_ANNOTATIONS: [&str; 2] = ["internal.config.kubernetes.io/path", "config.kubernetes.io/path"];
const INDEX_ANNOTATIONS: [&str; 2] = ["internal.config.kubernetes.io/index", "config.kubernetes.io/index"];

/// The function's answer: the ResourceList to print, and whether it holds
/// an error result (exit 1).
pub struct Outcome {
    pub output: String,
    pub failed: bool,
}

/// What the functionConfig asks for.
enum Request {
    /// One cluster of the federation in this file.
    Member { cluster: String, spec: SpecSource },
    /// Every cluster of this inline federation.
    Federation { spec: SpecSource },
}

/// Runs the function on a ResourceList's text. `Err` only when the input is
/// not a ResourceList at all (there are no items to give back).
pub fn process(input: &str, workdir: &Path, base: &RenderOptions) -> Result<Outcome, Diagnostic> {
    let mut list = parse_list(input)?;
    let items: Vec<Value> = match list.get("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(items)) => items.clone(),
        Some(_) => return Err(not_a_list("`items` is not a list")),
    };
    let config = list.get("functionConfig").cloned().unwrap_or(Value::Null);
    let resource_ref = resource_ref(&config);

    let mut opts = base.clone();
    opts.build.objects = Some(object_sources(&items));
    let (items, diags) = match request(&config, workdir) {
        Err(d) => (items, one(d)),
        Ok(request) => {
            let (spec, member) = match request {
                Request::Member { cluster, spec } => (spec, Some(cluster)),
                Request::Federation { spec } => (spec, None),
            };
            opts.clusters = member.iter().cloned().collect();
            match pipeline::render_source(&spec, &opts) {
                Err(diags) if member.is_some() => (items, member_diagnostics(diags)),
                Err(diags) => (items, diags),
                Ok(rendered) => match merge(items.clone(), &rendered, member.as_deref()) {
                    Ok(items) => (items, rendered.diagnostics),
                    Err(d) => (items, one(d)),
                },
            }
        }
    };

    let failed = diags.has_errors();
    list.insert(Value::from("items"), Value::Sequence(items));
    let results: Vec<Value> = diags.sorted().iter().map(|d| result(d, &resource_ref)).collect();
    if results.is_empty() {
        list.remove("results");
    } else {
        list.insert(Value::from("results"), Value::Sequence(results));
    }
    let output = serde_norway::to_string(&Value::Mapping(list))
        .map_err(|e| Diagnostic::error("MF410", "", format!("cannot write the ResourceList: {e}")))?;
    Ok(Outcome { output, failed })
}

fn parse_list(input: &str) -> Result<Mapping, Diagnostic> {
    crate::nesting::diagnose(input, Path::new("stdin"))?;
    let mut docs = serde_norway::Deserializer::from_str(input);
    let Some(first) = docs.next() else {
        return Err(not_a_list("stdin is empty"));
    };
    let value: Value = serde::Deserialize::deserialize(first).map_err(|e| not_a_list(&format!("not YAML: {e}")))?;
    if docs.next().is_some() {
        return Err(not_a_list("more than one YAML document"));
    }
    match value {
        Value::Mapping(m) if m.get("kind").and_then(Value::as_str) == Some("ResourceList") => Ok(m),
        _ => Err(not_a_list("its kind is not ResourceList")),
    }
}

fn not_a_list(why: &str) -> Diagnostic {
    Diagnostic::error("MF410", "", format!("stdin is not a KRM ResourceList: {why}")).hint(
        "without arguments meshfed runs as a KRM function (kpt fn eval --exec meshfed); see `meshfed --help` for the commands",
    )
}

fn one(d: Diagnostic) -> Diagnostics {
    let mut diags = Diagnostics::new();
    diags.push(d);
    diags
}

/// Reads the functionConfig into what to render.
fn request(config: &Value, workdir: &Path) -> Result<Request, Diagnostic> {
    let kind = config.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = config.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version != API_VERSION || (kind != KIND && kind != MEMBER_KIND) {
        return Err(Diagnostic::error(
            "MF411",
            "functionConfig",
            format!("functionConfig is {api_version:?} {kind:?}, not a {API_VERSION} {MEMBER_KIND} or {KIND}"),
        )
        .hint(format!(
            "give the function a {MEMBER_KIND} (metadata.name: the cluster, spec.federation: the spec file) or an inline {KIND}"
        )));
    }
    if kind == KIND {
        let text = serde_norway::to_string(config)
            .map_err(|e| Diagnostic::error("MF411", "functionConfig", format!("cannot read functionConfig: {e}")))?;
        return Ok(Request::Federation {
            spec: SpecSource {
                file: PathBuf::from(INLINE),
                base_dir: workdir.to_path_buf(),
                text,
            },
        });
    }
    let member = read_member(config)?;
    let spec = SpecSource::read(&resolve(workdir, &member.spec.federation)).map_err(|d| Diagnostic {
        path: "spec.federation".into(),
        ..d
    })?;
    Ok(Request::Member {
        cluster: member.metadata.name,
        spec,
    })
}

/// A `MeshFederationMember` from its YAML value, or why it is not one (MF412).
pub fn read_member(value: &Value) -> Result<MeshFederationMember, Diagnostic> {
    let json =
        serde_json::to_value(value).map_err(|e| Diagnostic::error("MF412", "", format!("not a {MEMBER_KIND}: {e}")))?;
    serde_json::from_value::<MeshFederationMember>(json).map_err(|e| {
        Diagnostic::error("MF412", "", format!("not a valid {MEMBER_KIND}: {e}"))
            .hint("it needs metadata.name (the cluster) and spec.federation (the MeshFederation file), nothing else")
    })
}

/// The pipeline names an unknown cluster as a `--cluster` option (MF130);
/// for a MeshFederationMember it is the member's `metadata.name`.
pub fn member_diagnostics(diags: Diagnostics) -> Diagnostics {
    let mut out = Diagnostics::new();
    for d in diags {
        out.push(if d.code == "MF130" {
            let message = d
                .message
                .strip_prefix("--cluster ")
                .map(|rest| format!("{MEMBER_KIND} metadata.name {rest}"))
                .unwrap_or(d.message);
            // No location: in plugin mode the file is kustomize's temporary copy.
            Diagnostic {
                path: "metadata.name".into(),
                message,
                location: None,
                ..d
            }
        } else {
            d
        });
    }
    out
}

/// `path` as given when absolute, else below `base`.
pub fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The ConfigMaps and Secrets among the items, values decoded.
fn object_sources(items: &[Value]) -> ObjectSources {
    let mut objects = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let kind = match item.get("kind").and_then(Value::as_str) {
            Some("ConfigMap") => ObjectKind::ConfigMap,
            Some("Secret") => ObjectKind::Secret,
            _ => continue,
        };
        let meta = item.get("metadata");
        let Some(name) = meta.and_then(|m| m.get("name")).and_then(Value::as_str) else {
            continue;
        };
        let namespace = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut data = std::collections::BTreeMap::new();
        let (plain, encoded) = match kind {
            ObjectKind::ConfigMap => ("data", "binaryData"),
            ObjectKind::Secret => ("stringData", "data"),
        };
        for (key, value) in entries(item, encoded) {
            data.insert(key, decode(&value));
        }
        // stringData wins over data, as the API server merges them.
        for (key, value) in entries(item, plain) {
            data.insert(key, Ok(value.into_bytes()));
        }
        objects.push(ObjectSource {
            item: index,
            kind,
            name: name.to_owned(),
            namespace,
            data,
        });
    }
    ObjectSources { objects }
}

fn entries(item: &Value, field: &str) -> Vec<(String, String)> {
    let Some(Value::Mapping(m)) = item.get(field) else {
        return Vec::new();
    };
    m.iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
        .collect()
}

fn decode(b64: &str) -> Result<Vec<u8>, String> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    BASE64
        .decode(compact.as_bytes())
        .map_err(|e| format!("not valid base64 ({e})"))
}

/// The items with this run's objects in place of an earlier run's.
fn merge(items: Vec<Value>, rendered: &Rendered, member: Option<&str>) -> Result<Vec<Value>, Diagnostic> {
    let federation = rendered.federation.name.as_str();
    // An item a root was read from stays, even if it looks like earlier output.
    let read = &rendered.federation.items_read;
    let mut out: Vec<Value> = items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| read.contains(i) || !generated_by(item, federation, member))
        .map(|(_, item)| item)
        .collect();
    for (cluster, files) in &rendered.clusters {
        for (name, file) in files.iter().filter(|(_, f)| f.applied) {
            for (index, doc) in documents(&file.text)?.into_iter().enumerate() {
                let doc = if member.is_none() {
                    with_path(doc, &format!("{cluster}/{name}"), index)
                } else {
                    doc
                };
                out.push(doc);
            }
        }
    }
    Ok(out)
}

/// Whether an earlier run of this federation (and, for a member, this
/// cluster) generated `item`.
fn generated_by(item: &Value, federation: &str, member: Option<&str>) -> bool {
    let meta = item.get("metadata");
    let label = |k: &str| {
        meta.and_then(|m| m.get("labels"))
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
    };
    let cluster = meta
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(ANNOTATION_CLUSTER))
        .and_then(Value::as_str);
    label(LABEL_MANAGED_BY) == Some(MANAGER)
        && label(LABEL_FEDERATION) == Some(federation)
        && member.is_none_or(|m| cluster == Some(m))
}

fn documents(text: &str) -> Result<Vec<Value>, Diagnostic> {
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(doc)
            .map_err(|e| Diagnostic::error("MF302", "", format!("rendered output is not YAML: {e}")))?;
        docs.push(value);
    }
    Ok(docs)
}

/// Adds the annotations kpt reads to place an object in `<cluster>/<file>`.
fn with_path(mut doc: Value, path: &str, index: usize) -> Value {
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_mapping_mut) {
        if !meta.contains_key("annotations") {
            meta.insert(Value::from("annotations"), Value::Mapping(Mapping::new()));
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_mapping_mut) {
            for key in PATH_ANNOTATIONS {
                annotations.insert(Value::from(key), Value::from(path));
            }
            for key in INDEX_ANNOTATIONS {
                annotations.insert(Value::from(key), Value::from(index.to_string()));
            }
        }
    }
    doc
}

/// `apiVersion`/`kind`/`name`/`namespace` of the functionConfig, for results.
fn resource_ref(config: &Value) -> Mapping {
    let mut r = Mapping::new();
    for key in ["apiVersion", "kind"] {
        if let Some(v) = config.get(key).and_then(Value::as_str) {
            r.insert(Value::from(key), Value::from(v));
        }
    }
    for key in ["name", "namespace"] {
        if let Some(v) = config.get("metadata").and_then(|m| m.get(key)).and_then(Value::as_str) {
            r.insert(Value::from(key), Value::from(v));
        }
    }
    r
}

/// A diagnostic as a functions-spec `results` entry.
fn result(d: &Diagnostic, resource_ref: &Mapping) -> Value {
    let mut r = Mapping::new();
    let mut message = format!("[{}] {}", d.code, d.message);
    if let Some(hint) = &d.hint {
        message.push_str("; ");
        message.push_str(hint);
    }
    r.insert(Value::from("message"), Value::from(message));
    let severity = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    r.insert(Value::from("severity"), Value::from(severity));
    if !resource_ref.is_empty() {
        r.insert(Value::from("resourceRef"), Value::Mapping(resource_ref.clone()));
    }
    if !d.path.is_empty() {
        let mut field = Mapping::new();
        field.insert(Value::from("path"), Value::from(d.path.as_str()));
        r.insert(Value::from("field"), Value::Mapping(field));
    }
    if let Some(loc) = d.location.as_ref().filter(|l| l.file != Path::new(INLINE)) {
        let mut file = Mapping::new();
        file.insert(Value::from("path"), Value::from(loc.file.to_string_lossy().as_ref()));
        r.insert(Value::from("file"), Value::Mapping(file));
    }
    let mut tags = Mapping::new();
    tags.insert(Value::from("code"), Value::from(d.code));
    r.insert(Value::from("tags"), Value::Mapping(tags));
    Value::Mapping(r)
}
