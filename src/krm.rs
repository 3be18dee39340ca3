//! KRM function mode (kpt / kustomize functions spec v1): a `ResourceList`
//! in on stdin, the same list out on stdout with meshfed's objects added.
//!
//! The `functionConfig` says what to render: a `MeshFederationMember` (one
//! cluster, its `spec.federation` read from a file relative to the working
//! directory) or an inline `MeshFederation` (every cluster, each object given
//! the `<cluster>/<file>` path kpt writes it to). Root CAs may come from
//! ConfigMaps and Secrets among the items (`rootCA.configMaps`/`secrets`).
//!
//! Every item meshfed does not generate or replace comes back byte for byte:
//! `resource_list` reads the list once, keeping each item's original lines
//! beside its value, and the output copies those lines at the indentation
//! they had — comments, quoting, flow style and key order included, and any
//! scalar meshfed could not hold as a number (an integer past 64 bits) as it
//! was written. apiVersion, kind and functionConfig are copied the same way.
//! Generated objects and `results` are written by `emit`, the one place this
//! mode writes YAML of its own. Objects an earlier run of the same
//! federation generated are dropped and the new ones appended, so running
//! twice gives the same list. Problems become `results`; the items come back
//! even then, unchanged, and any error means exit 1.
//!
//! A relative `spec.federation` resolves from the working directory: kpt
//! runs exec functions in its own working directory (where kpt was started),
//! not in the package folder, and the hint of a path that does not resolve
//! says so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use serde_norway::{Mapping, Value};

use crate::diagnostics::{Code, Diagnostic, Diagnostics, Severity};
use crate::intake::{ObjectKind, ObjectSource, ObjectSources};
use crate::load::SpecSource;
use crate::naming::{ANNOTATION_CLUSTER, LABEL_FEDERATION, LABEL_MANAGED_BY, MANAGER};
use crate::pipeline::{self, RenderOptions, Rendered};
use crate::resource_list::{self, Item, ResourceList};
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

/// What becomes of each item: kept (its original text), or a new object.
enum Placed {
    Kept(usize),
    New(Value),
}

/// Runs the function on a ResourceList's text. `Err` only when the input is
/// not a ResourceList at all (there are no items to give back).
pub fn process(input: &str, workdir: &Path, base: &RenderOptions) -> Result<Outcome, Diagnostic> {
    crate::nesting::diagnose(input, Path::new("stdin"))?;
    let list = resource_list::read(input).map_err(|why| not_a_list(&why))?;
    let top = |key: &str| list.entries.iter().find(|e| e.key == key).map(|e| &e.value);
    if top("kind").and_then(Value::as_str) != Some("ResourceList") {
        return Err(not_a_list("its kind is not ResourceList"));
    }
    if !matches!(top("items"), None | Some(Value::Null | Value::Sequence(_))) {
        return Err(not_a_list("`items` is not a list"));
    }
    let config = top("functionConfig").cloned().unwrap_or(Value::Null);
    let resource_ref = resource_ref(&config);
    let kept: Vec<Placed> = (0..list.items.len()).map(Placed::Kept).collect();

    let mut opts = base.clone();
    opts.build.objects = Some(object_sources(&list.items));
    let requested = if list.duplicate_keys_under.iter().any(|k| k == "functionConfig") {
        Err(Diagnostic::new(
            Code::MF411,
            "functionConfig",
            "functionConfig repeats a key in one mapping",
        )
        .hint("write each key once"))
    } else {
        request(&config, workdir)
    };
    let (items, diags) = match requested {
        Err(d) => (kept, Diagnostics::from(d)),
        Ok(request) => {
            let (spec, member) = match request {
                Request::Member { cluster, spec } => (spec, Some(cluster)),
                Request::Federation { spec } => (spec, None),
            };
            opts.clusters = member.iter().cloned().collect();
            match pipeline::render_source(&spec, &opts) {
                Err(diags) if member.is_some() => (kept, member_diagnostics(diags)),
                Err(diags) => (kept, inline_diagnostics(diags, workdir)),
                Ok((rendered, warnings)) => match merge(&list.items, &rendered, member.as_deref()) {
                    Ok(items) => (items, warnings),
                    Err(d) => (kept, Diagnostics::from(d)),
                },
            }
        }
    };

    let failed = diags.has_errors();
    let results: Vec<Value> = diags.sorted().iter().map(|d| result(d, &resource_ref)).collect();
    let results = (!results.is_empty()).then_some(Value::Sequence(results));
    let mut output = write_list(&list, &items, results.clone(), true)?;
    // An alias whose anchor was in a text not copied would not resolve:
    // then nothing is copied (values are written, as YAML data they are equal).
    if list.has_aliases && resource_list::read(&output).is_err() {
        output = write_list(&list, &items, results, false)?;
    }
    Ok(Outcome { output, failed })
}

/// The one place KRM mode writes YAML of its own: generated objects, results,
/// and any part of the list whose original text could not be copied.
fn emit(value: &Value) -> Result<String, Diagnostic> {
    crate::yaml::to_string(value)
        .map_err(|e| Diagnostic::new(Code::MF410, "", format!("cannot write the ResourceList: {e}")))
}

/// `key: value` as a top-level entry.
fn emit_entry(key: Value, value: &Value) -> Result<String, Diagnostic> {
    let mut m = Mapping::new();
    m.insert(key, value.clone());
    emit(&Value::Mapping(m))
}

/// The output list: the input's own text wherever it stays (preamble,
/// apiVersion, kind, functionConfig, kept items, at their indentation), the
/// emitter's for new objects and results. Without `copy`, every part is
/// written from its value.
fn write_list(list: &ResourceList, items: &[Placed], results: Option<Value>, copy: bool) -> Result<String, Diagnostic> {
    let mut out = if copy { list.preamble.clone() } else { String::new() };
    let mut results = results;
    let write_items = |out: &mut String| -> Result<(), Diagnostic> {
        if items.is_empty() {
            out.push_str("items: []\n");
            return Ok(());
        }
        let header = list.items_header.as_deref().filter(|_| copy);
        out.push_str(header.unwrap_or("items:\n"));
        let indent = " ".repeat(if header.is_some() { list.dash_column } else { 0 });
        for placed in items {
            let (original, value) = match placed {
                Placed::Kept(i) => (list.items[*i].text.as_deref().filter(|_| copy), &list.items[*i].value),
                Placed::New(v) => (None, v),
            };
            if let Some(text) = original {
                out.push_str(text);
                continue;
            }
            for line in emit(&Value::Sequence(vec![value.clone()]))?.lines() {
                if !line.is_empty() {
                    out.push_str(&indent);
                }
                out.push_str(line);
                out.push('\n');
            }
        }
        Ok(())
    };
    for entry in &list.entries {
        match entry.key.as_str() {
            "items" => write_items(&mut out)?,
            "results" => {
                if let Some(r) = results.take() {
                    out.push_str(&emit_entry(Value::from("results"), &r)?);
                }
            }
            _ => match entry.text.as_deref().filter(|_| copy) {
                Some(text) => out.push_str(text),
                None => out.push_str(&emit_entry(entry.key_value.clone(), &entry.value)?),
            },
        }
    }
    if !list.has_items_key {
        write_items(&mut out)?;
    }
    if let Some(r) = results {
        out.push_str(&emit_entry(Value::from("results"), &r)?);
    }
    if copy {
        out.push_str(&list.postamble);
    }
    Ok(out)
}

fn not_a_list(why: &str) -> Diagnostic {
    Diagnostic::new(Code::MF410, "", format!("stdin is not a KRM ResourceList: {why}")).hint(
        "without arguments meshfed runs as a KRM function (kpt fn eval --exec meshfed); see `meshfed --help` for the commands",
    )
}

/// Reads the functionConfig into what to render.
fn request(config: &Value, workdir: &Path) -> Result<Request, Diagnostic> {
    let kind = config.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = config.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version != API_VERSION || (kind != KIND && kind != MEMBER_KIND) {
        return Err(Diagnostic::new(
            Code::MF411,
            "functionConfig",
            format!("functionConfig is {api_version:?} {kind:?}, not a {API_VERSION} {MEMBER_KIND} or {KIND}"),
        )
        .hint(format!(
            "give the function a {MEMBER_KIND} (metadata.name: the cluster, spec.federation: the spec file) or an inline {KIND}"
        )));
    }
    if kind == KIND {
        let text = serde_norway::to_string(config).map_err(|e| {
            Diagnostic::new(
                Code::MF411,
                "functionConfig",
                format!("cannot read functionConfig: {e}"),
            )
        })?;
        return Ok(Request::Federation {
            spec: SpecSource {
                file: PathBuf::from(INLINE),
                base_dir: workdir.to_path_buf(),
                text,
            },
        });
    }
    let member = read_member(config)?;
    let file = resolve(workdir, &member.spec.federation);
    let spec = SpecSource::read(&file).map_err(|d| {
        let d = Diagnostic {
            path: "spec.federation".into(),
            ..d
        };
        if Path::new(&member.spec.federation).is_relative() && !file.exists() {
            d.hint(unresolved_hint(workdir))
        } else {
            d
        }
    })?;
    Ok(Request::Member {
        cluster: member.metadata.name,
        spec,
    })
}

/// Why a relative `spec.federation` may not resolve: kpt runs an exec
/// function in kpt's own working directory, not in the package folder.
fn unresolved_hint(workdir: &Path) -> String {
    let dir = workdir.canonicalize().unwrap_or_else(|_| workdir.to_path_buf());
    format!(
        "relative paths resolve from the working directory the function runs in ({}): under kpt that is the folder \
         kpt was started from, not the package folder; start kpt from the folder the path is relative to, or give an absolute path",
        dir.display()
    )
}

/// A `MeshFederationMember` from its YAML value, or why it is not one (MF412).
pub fn read_member(value: &Value) -> Result<MeshFederationMember, Diagnostic> {
    let json = serde_json::to_value(value)
        .map_err(|e| Diagnostic::new(Code::MF412, "", format!("not a {MEMBER_KIND}: {e}")))?;
    serde_json::from_value::<MeshFederationMember>(json).map_err(|e| {
        Diagnostic::new(Code::MF412, "", format!("not a valid {MEMBER_KIND}: {e}"))
            .hint("it needs metadata.name (the cluster) and spec.federation (the MeshFederation file), nothing else")
    })
}

/// The pipeline names an unknown cluster as a `--cluster` option (MF130);
/// for a MeshFederationMember it is the member's `metadata.name`.
pub fn member_diagnostics(diags: Diagnostics) -> Diagnostics {
    let mut out = Diagnostics::new();
    for d in diags {
        out.push(if d.code == Code::MF130 {
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

/// An inline MeshFederation has no folder of its own: a root CA file it
/// cannot read (MF201) resolves from the function's working directory.
fn inline_diagnostics(diags: Diagnostics, workdir: &Path) -> Diagnostics {
    let mut out = Diagnostics::new();
    for d in diags {
        out.push(if d.code == Code::MF201 {
            d.hint(unresolved_hint(workdir))
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
fn object_sources(items: &[Item]) -> ObjectSources {
    let mut objects = Vec::new();
    for (index, item) in items.iter().map(|i| &i.value).enumerate() {
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
fn merge(items: &[Item], rendered: &Rendered, member: Option<&str>) -> Result<Vec<Placed>, Diagnostic> {
    let federation = rendered.federation.name.as_str();
    // An item a root was read from stays, even if it looks like earlier output.
    let read = &rendered.items_read;
    let mut out = Vec::new();
    let mut places = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if read.contains(&i) || !generated_by(&item.value, federation, member) {
            out.push(Placed::Kept(i));
        } else if let Some(place) = kpt_place(&item.value) {
            places.insert(identity(&item.value), place);
        }
    }
    for (cluster, files) in &rendered.clusters {
        for (name, file) in files.iter().filter(|(_, f)| f.applied) {
            for (index, doc) in documents(&file.text)?.into_iter().enumerate() {
                let doc = match (member, places.remove(&identity(&doc))) {
                    (None, _) => with_path(doc, &format!("{cluster}/{name}"), index),
                    (Some(_), Some(place)) => with_annotations(doc, place),
                    (Some(_), None) => doc,
                };
                out.push(Placed::New(doc));
            }
        }
    }
    Ok(out)
}

/// kind, namespace and name: what makes a replacement the same object.
fn identity(item: &Value) -> [Option<String>; 3] {
    let meta = item.get("metadata");
    let field = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    [
        field(item.get("kind")),
        field(meta.and_then(|m| m.get("namespace"))),
        field(meta.and_then(|m| m.get("name"))),
    ]
}

/// The file (and place in it) kpt read an object from. A member's objects
/// carry no path of their own, so a replacement keeps its predecessor's:
/// objects a user moved into another file of the package stay there.
fn kpt_place(item: &Value) -> Option<Vec<(Value, Value)>> {
    let annotations = item.get("metadata")?.get("annotations")?.as_mapping()?;
    let place: Vec<(Value, Value)> = annotations
        .iter()
        .filter(|(k, _)| {
            k.as_str()
                .is_some_and(|k| PATH_ANNOTATIONS.contains(&k) || INDEX_ANNOTATIONS.contains(&k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!place.is_empty()).then_some(place)
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
            .map_err(|e| Diagnostic::new(Code::MF302, "", format!("rendered output is not YAML: {e}")))?;
        docs.push(value);
    }
    Ok(docs)
}

/// Adds the annotations kpt reads to place an object in `<cluster>/<file>`.
fn with_path(doc: Value, path: &str, index: usize) -> Value {
    let mut place = Vec::new();
    for key in PATH_ANNOTATIONS {
        place.push((Value::from(key), Value::from(path)));
    }
    for key in INDEX_ANNOTATIONS {
        place.push((Value::from(key), Value::from(index.to_string())));
    }
    with_annotations(doc, place)
}

fn with_annotations(mut doc: Value, place: Vec<(Value, Value)>) -> Value {
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_mapping_mut) {
        if !meta.contains_key("annotations") {
            meta.insert(Value::from("annotations"), Value::Mapping(Mapping::new()));
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_mapping_mut) {
            for (key, value) in place {
                annotations.insert(key, value);
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
    tags.insert(Value::from("code"), Value::from(d.code.as_str()));
    r.insert(Value::from("tags"), Value::Mapping(tags));
    Value::Mapping(r)
}
