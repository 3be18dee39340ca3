//! Spec intake: a file's text becomes a typed `MeshFederation`, or every
//! problem with it, each with its field path and line.
//!
//! Order: the nesting depth (`nesting`, one linear scan, so deep nesting
//! never reaches libyaml), YAML (with serde_norway's bounds on alias
//! expansion, so a "billion laughs" input fails fast), then the JSON Schema in
//! `schemas/` (every structural problem at once), then the typed structs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::Validator;
use serde_json::Value;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::line_index::{self, LineIndex};
use crate::nesting;
use crate::spec::MeshFederation;
use crate::suggest;

mod split;
pub(crate) use split::{Cut, SEQUENCE as CUT_SEQUENCE};

/// The spec's JSON Schema, as shipped in `schemas/` and printed by `meshfed schema`.
pub const SCHEMA: &str = include_str!("../schemas/meshfederation.schema.json");

/// Largest spec file we read: far beyond any real federation, small enough
/// that a mistaken path to a disk image fails at once.
pub const MAX_SPEC_BYTES: u64 = 64 * 1024 * 1024;

/// Reads at most [`MAX_SPEC_BYTES`] of UTF-8 text from `input`: every YAML
/// or JSON input meshfed takes (the spec, KRM stdin, Deckhouse documents)
/// is bounded the same way, so none can make it read without end
/// (`/dev/zero`) or hold gigabytes. `Err` says why, for the caller's diagnostic.
pub fn read_text(input: impl std::io::Read) -> Result<String, String> {
    String::from_utf8(read_bytes(input)?).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// At most the size limit of `input`'s bytes (see `read_text`).
pub fn read_bytes(input: impl std::io::Read) -> Result<Vec<u8>, String> {
    read_at_most(input, MAX_SPEC_BYTES, "")
}

/// Largest root CA file or SPIFFE bundle meshfed reads (`rootCA.files`,
/// `rootCA.spiffeBundle`, `meshfed inspect`): far beyond any CA bundle.
pub const MAX_CA_BYTES: u64 = 4 * 1024 * 1024;

/// A root CA file or SPIFFE bundle, read with the same bound as every other
/// input but at most [`MAX_CA_BYTES`]; a folder is refused by name. `Err`
/// says why, for the caller's MF201.
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.is_dir() {
        return Err("it is a directory".into());
    }
    if meta.len() > MAX_CA_BYTES {
        return Err(format!("{} bytes is far larger than a CA bundle", meta.len()));
    }
    // Devices and pipes report no size (/dev/zero never ends): read at most the limit + 1.
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    read_at_most(file, MAX_CA_BYTES, ", far larger than a CA bundle")
}

/// The one bounded reader: at most `max` bytes of `input`, or why not
/// (`too_large` follows the size in that message).
fn read_at_most(input: impl std::io::Read, max: u64, too_large: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(input, max + 1), &mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("it is larger than {max} bytes{too_large}"));
    }
    Ok(bytes)
}

/// A spec document and where it came from; relative paths in it resolve
/// from `base_dir`.
#[derive(Debug, Clone)]
pub struct SpecSource {
    pub file: PathBuf,
    pub base_dir: PathBuf,
    pub text: String,
}

impl SpecSource {
    pub fn read(file: &Path) -> Result<Self, Diagnostic> {
        let unreadable = |why: String| {
            Diagnostic::new(Code::MF001, "", format!("cannot read the spec: {why}"))
                .hint("check the path and its permissions")
                .at(file, None)
        };
        let meta = std::fs::metadata(file).map_err(|e| unreadable(e.to_string()))?;
        if meta.is_dir() {
            return Err(Diagnostic::new(Code::MF001, "", "cannot read the spec: it is a folder")
                .hint("give the spec file (the MeshFederation YAML), not its folder")
                .at(file, None));
        }
        if meta.len() > MAX_SPEC_BYTES {
            return Err(unreadable(format!("{} bytes is larger than a spec can be", meta.len())));
        }
        // Devices and pipes report no size (/dev/zero never ends): read at most the limit + 1.
        let opened = std::fs::File::open(file).map_err(|e| unreadable(e.to_string()))?;
        let bytes = read_bytes(opened).map_err(unreadable)?;
        let text = String::from_utf8(bytes).map_err(|e| not_utf8(file, e.as_bytes(), e.utf8_error().valid_up_to()))?;
        let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(SpecSource {
            file: file.to_path_buf(),
            base_dir,
            text,
        })
    }
}

/// MF001 for text that is not UTF-8: the line, the byte's offset in the file
/// and its value, so a Latin-1 `ü` (0xFC) is found at once.
fn not_utf8(file: &Path, bytes: &[u8], offset: usize) -> Diagnostic {
    let before = &bytes[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = offset - before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) + 1;
    Diagnostic::new(
        Code::MF001,
        "",
        format!(
            "cannot read the spec: it is not UTF-8 at line {line}: byte {column} of the line (offset {offset} in the file) is 0x{:02X}",
            bytes[offset]
        ),
    )
    .hint("save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 (Latin-1 and Windows-1252 text is not UTF-8)")
    .at(file, Some(line))
}

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the embedded schema is JSON");
        jsonschema::validator_for(&schema).expect("the embedded schema is a valid JSON Schema")
    })
}

/// For the fuzz target: whether parsing `text` in parts ([`Cut`], at any
/// size) agrees with parsing it whole. `true` when the cut stands down,
/// or the text nests too deep to be parsed at all.
#[doc(hidden)]
pub fn cut_agrees(text: &str) -> bool {
    if nesting::check(text).is_err() {
        return true;
    }
    let Some((value, _)) = Cut::find(text).and_then(|cut| cut.parse()) else {
        return true;
    };
    parse_yaml(text, Path::new("fuzz.yaml")).is_ok_and(|whole| whole == value)
}

/// The spec's YAML as a JSON value: in parts on two cores where `cut`
/// allows it (with its items' lines), else whole.
fn spec_value(src: &SpecSource, cut: Option<&Cut<'_>>) -> Result<(Value, Option<LineIndex>), Diagnostic> {
    if let Some(cut) = cut {
        nesting::diagnose(&src.text, &src.file)?;
        if let Some((value, lines)) = cut.parse() {
            return Ok((value, Some(lines)));
        }
    }
    parse_yaml(&src.text, &src.file).map(|value| (value, None))
}

/// Parses YAML text into a JSON value, one document only.
pub fn parse_yaml(text: &str, file: &Path) -> Result<Value, Diagnostic> {
    // Before libyaml, whose time grows with the square of the nesting.
    nesting::diagnose(text, file)?;
    let mut docs = serde_norway::Deserializer::from_str(text);
    // No document at all, or only an empty one (comments, `---`): one rule.
    let value: Option<Value> = match docs.next() {
        Some(first) => Some(serde::Deserialize::deserialize(first).map_err(|e| yaml_error(&e, file))?),
        None => None,
    };
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Err(
            Diagnostic::new(Code::MF002, "", "the file is empty: it holds no YAML document")
                .hint("write a MeshFederation there; `meshfed schema` shows its shape")
                .at(file, None),
        );
    };
    if docs.next().is_some() {
        return Err(
            Diagnostic::new(Code::MF004, "", "the file holds more than one YAML document")
                .hint("keep one MeshFederation per file")
                .at(file, None),
        );
    }
    Ok(value)
}

fn yaml_error(e: &serde_norway::Error, file: &Path) -> Diagnostic {
    let line = e.location().map(|l| l.line());
    let msg = e.to_string();
    let (code, hint) = if msg.contains("recursion limit") || msg.contains("repetition limit") {
        (
            Code::MF003,
            "the document nests or repeats aliases beyond any real spec; write it out plainly",
        )
    } else {
        (Code::MF002, "fix the YAML syntax at that line")
    };
    // serde_norway appends " at line X column Y"; the location says it already.
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
    Diagnostic::new(code, "", format!("not valid YAML: {msg}"))
        .hint(hint)
        .at(file, line)
}

/// Reads and checks a spec: the typed spec, plus every problem found (which
/// may hold warnings even when the spec is returned).
pub fn load_spec(src: &SpecSource) -> Result<MeshFederation, Diagnostics> {
    load_spec_cut(src, None).map(|(spec, _)| spec)
}

/// [`load_spec`], the spec's YAML parsed on two cores where `cut` (of
/// `src.text`, [`Cut::of`]) allows it; then also the lines of its
/// `spec.clusters` items, as `LineIndex::for_items` finds them.
pub(crate) fn load_spec_cut(
    src: &SpecSource,
    cut: Option<&Cut<'_>>,
) -> Result<(MeshFederation, Option<LineIndex>), Diagnostics> {
    let mut diags = Diagnostics::new();
    // Compiling the schema takes as long as parsing 80 KiB of YAML: for a
    // spec of more than a few KiB it is compiled on another thread meanwhile
    // (nothing waits for that thread but `validator()` below).
    if src.text.len() > 16 << 10 {
        let _ = std::thread::Builder::new().spawn(validator);
    }
    let (value, lines) = match spec_value(src, cut) {
        Ok(v) => v,
        Err(d) => {
            diags.push(d);
            return Err(diags);
        }
    };
    if let Some(d) = member_instead(&value, src) {
        diags.push(d);
        return Err(diags);
    }
    let mut found = Vec::new();
    // A valid spec (the common case) is told apart quickly; only an invalid
    // one pays for collecting every error.
    let errors = (!validator().is_valid(&value)).then(|| validator().iter_errors(&value));
    for err in errors.into_iter().flatten() {
        let pointer = err.instance_path().to_string();
        let path = pointer_to_path(&pointer);
        found.extend(schema_diagnostics(err.kind(), &path, &pointer, err.instance()));
    }
    // A misspelt required field is one mistake, not two: its "did you mean"
    // says what the "missing" would. Line numbers are only needed for a
    // problem, and then only for its path: a valid spec never pays for the
    // index (6% of `generate` at 10x50).
    let renamed: Vec<String> = found
        .iter()
        .filter_map(|d| {
            d.suggested
                .as_ref()
                .map(|s| line_index::child(parent_of(&d.diag.path), s))
        })
        .collect();
    found.retain(|f| !(f.diag.code == Code::MF102 && f.missing.as_ref().is_some_and(|m| renamed.contains(m))));
    if !found.is_empty() {
        let index = LineIndex::for_paths(&src.text, found.iter().map(|f| f.diag.path.as_str()));
        for f in found {
            let line = index.line_of(&f.diag.path);
            diags.push(f.diag.at(&src.file, line));
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    match serde_json::from_value::<MeshFederation>(value) {
        Ok(spec) => Ok((spec, lines)),
        Err(e) => {
            diags.push(
                Diagnostic::new(Code::MF103, "", format!("the spec does not fit its schema: {e}")).at(&src.file, None),
            );
            Err(diags)
        }
    }
}

/// A MeshFederationMember given where a MeshFederation belongs: one
/// diagnostic that says so and names the federation file it points at,
/// instead of the schema's three unrelated complaints.
fn member_instead(value: &Value, src: &SpecSource) -> Option<Diagnostic> {
    if value.get("kind").and_then(Value::as_str) != Some(crate::spec::MEMBER_KIND) {
        return None;
    }
    let cluster = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
    let hint = match value.pointer("/spec/federation").and_then(Value::as_str) {
        Some(fed) => {
            let path = src.base_dir.join(fed);
            format!(
                "it names cluster {cluster} of the federation in {fed}; give that file instead: {}",
                path.display()
            )
        }
        None => format!("it names cluster {cluster}, but no spec.federation; give the MeshFederation file"),
    };
    let line = LineIndex::build(&src.text).line_of("kind");
    Some(
        Diagnostic::new(
            Code::MF105,
            "kind",
            "this file is a MeshFederationMember (one cluster of a federation, for kustomize and kpt), not a MeshFederation",
        )
        .hint(hint)
        .at(&src.file, line),
    )
}

/// `/spec/clusters/1/name` → `spec.clusters[1].name`.
pub fn pointer_to_path(pointer: &str) -> String {
    let mut path = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            path = line_index::item(&path, seg.parse().unwrap_or(0));
        } else {
            path = line_index::child(&path, &seg);
        }
    }
    path
}

/// A value shown in a message: short, so a pasted certificate never floods it.
fn shown(v: &Value) -> String {
    // A pasted PEM (perhaps a private key) is never repeated, not even in part.
    if let Value::String(text) = v {
        if text.contains("-----BEGIN") || text.contains('\n') {
            return format!("a text of {} lines (not shown)", text.lines().count());
        }
    }
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

/// One schema problem, with what is needed to merge a misspelt required
/// field's "unknown" and "missing" into one diagnostic.
struct Found {
    diag: Diagnostic,
    /// For MF101 with a near known field: that field's name.
    suggested: Option<String>,
    /// For MF102: the missing field's path.
    missing: Option<String>,
}

impl From<Diagnostic> for Found {
    fn from(diag: Diagnostic) -> Self {
        Found {
            diag,
            suggested: None,
            missing: None,
        }
    }
}

/// `spec.clusters[0].domian` → `spec.clusters[0]`.
fn parent_of(path: &str) -> &str {
    path.rfind('.').map_or("", |i| &path[..i])
}

/// MF101 for each unknown field, with the known field it is near, or the
/// level it belongs at.
fn unknown_fields(unexpected: &[String], path: &str, pointer: &str, instance: &Value) -> Vec<Found> {
    let known = suggest::known_fields(pointer);
    let present: Vec<&str> = instance
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    unexpected
        .iter()
        .map(|field| {
            let at = line_index::child(path, field);
            // A near name not already in use (`domian` beside `domain` is a duplicate, not a typo).
            let near = suggest::nearest(field, &known).filter(|k| !present.contains(&k.as_str()));
            if let Some(near) = near {
                return Found {
                    diag: Diagnostic::new(Code::MF101, at, format!("unknown field `{field}`"))
                        .hint(format!("did you mean `{near}`?")),
                    suggested: Some(near),
                    missing: None,
                };
            }
            if let Some(home) = suggest::belongs_elsewhere(path, field) {
                return Diagnostic::new(Code::MF101, at, format!("`{field}` does not belong at this level"))
                    .hint(format!("it is `{home}`; move it there"))
                    .into();
            }
            Diagnostic::new(Code::MF101, at, format!("unknown field `{field}`"))
                .hint("remove it or correct its spelling; `meshfed schema` lists every field")
                .into()
        })
        .collect()
}

/// MF103, with the quoting hint for an Istio version YAML read as a number.
fn wrong_type(kind: &TypeKind, path: &str, instance: &Value) -> Diagnostic {
    let expected = match kind {
        TypeKind::Single(t) => format!("{t:?}").to_lowercase(),
        TypeKind::Multiple(_) => "another type".to_owned(),
    };
    let hint = if path.ends_with("istio.version") && instance.is_number() {
        "quote it, e.g. version: \"1.30\" (YAML reads 1.30 as the number 1.3)"
    } else {
        "see `meshfed schema` for the expected shape"
    };
    Diagnostic::new(
        Code::MF103,
        path,
        format!("expected {expected}, found {}", shown(instance)),
    )
    .hint(hint)
}

fn schema_diagnostics(kind: &ValidationErrorKind, path: &str, pointer: &str, instance: &Value) -> Vec<Found> {
    use ValidationErrorKind as K;
    let invalid = |msg: String, hint: &str| vec![Diagnostic::new(Code::MF104, path, msg).hint(hint).into()];
    match kind {
        K::AdditionalProperties { unexpected } => unknown_fields(unexpected, path, pointer, instance),
        K::Required { property } => {
            let field = property.as_str().unwrap_or_default();
            vec![Found {
                diag: Diagnostic::new(Code::MF102, path, format!("missing required field `{field}`"))
                    .hint(format!("add `{field}`; see the spec reference in the README")),
                suggested: None,
                missing: Some(line_index::child(path, field)),
            }]
        }
        K::Type { kind } => vec![wrong_type(kind, path, instance).into()],
        K::Pattern { pattern } => {
            let (what, hint) = describe_pattern(pattern);
            let hint = match instance.as_str().and_then(istio_minor_of) {
                Some(minor) if pattern.starts_with("^1\\.") => format!("write it as \"{minor}\""),
                _ => hint.to_owned(),
            };
            invalid(format!("{} is not {what}", shown(instance)), &hint)
        }
        K::MinLength { .. } => invalid("must not be empty".into(), "give it a value"),
        K::MaxLength { limit } => invalid(format!("longer than {limit} characters"), "shorten it"),
        K::Minimum { limit } | K::Maximum { limit } => {
            let _ = limit;
            invalid(format!("{} is out of range", shown(instance)), "ports are 1 to 65535")
        }
        K::MinItems { limit } => invalid(format!("needs at least {limit} item(s)"), "add one"),
        K::MinProperties { limit } => invalid(format!("needs at least {limit} entry"), "add one"),
        K::Enum { options } => invalid(
            format!("{} is not one of {options}", shown(instance)),
            "pick one of the listed values",
        ),
        K::Constant { expected_value } => invalid(
            format!("{} must be {expected_value}", shown(instance)),
            "this file must be a MeshFederation",
        ),
        other => invalid(
            format!("{} is invalid ({})", shown(instance), other.keyword()),
            "see `meshfed schema`",
        ),
    }
}

/// The Istio minor a version string names (`"1.21.5"`, `"v1.21"`,
/// `"1.21.x"` → `"1.21"`), so the hint keeps the user's release.
fn istio_minor_of(version: &str) -> Option<String> {
    let mut parts = version.trim().trim_start_matches(['v', 'V']).split('.');
    let major = parts.next()?;
    let minor = parts.next()?;
    (major == "1" && !minor.is_empty() && minor.len() <= 3 && minor.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("1.{minor}"))
}

fn describe_pattern(pattern: &str) -> (&'static str, &'static str) {
    if pattern.starts_with("^1\\.") {
        ("an Istio minor version", "write it as \"1.30\"")
    } else if pattern.contains("(/") {
        (
            "an Istio locality",
            "write region[/zone[/subzone]], e.g. us-east1/us-east1-b, each part letters, digits, '-', '_' and '.'",
        )
    } else if pattern.contains("(ms|s|m|h)") {
        (
            "a duration",
            "write a whole number with a unit: ms, s, m or h, e.g. 10s",
        )
    } else if pattern.contains("(\\.") {
        (
            "a DNS-1123 subdomain",
            "use lower-case letters, digits, '-' and '.', e.g. cluster-a.local",
        )
    } else if pattern.contains("A-Z") {
        ("a valid network name", "use letters, digits, '-', '_' and '.'")
    } else {
        (
            "a DNS-1123 label",
            "use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(
            pointer_to_path("/spec/clusters/1/rootCA/files/0"),
            "spec.clusters[1].rootCA.files[0]"
        );
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(pointer_to_path("/metadata/labels/a~1b"), "metadata.labels.a/b");
    }

    #[test]
    fn a_version_with_a_patch_keeps_its_minor_in_the_hint() {
        assert_eq!(istio_minor_of("1.21.5").as_deref(), Some("1.21"));
        assert_eq!(istio_minor_of("v1.24").as_deref(), Some("1.24"));
        assert_eq!(istio_minor_of("1.30.0-beta.0").as_deref(), Some("1.30"));
        assert_eq!(istio_minor_of("2.1"), None);
        assert_eq!(istio_minor_of("latest"), None);
    }

    #[test]
    fn embedded_schema_compiles() {
        let _ = validator();
    }
}
