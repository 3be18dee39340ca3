//! Templates in, checked YAML out.
//!
//! Each object is rendered from its minijinja template. An embedded
//! template writes its object once, in canonical YAML (`canonical`). A
//! template from `--templates DIR` takes the general path: its values are
//! written as JSON, the text is parsed back and re-emitted by `yaml.rs`, so
//! a broken template is a clear error and the output is the same canonical
//! YAML whatever the template's spacing.
//!
//! An import's two objects differ from importer to importer only in the
//! importer's annotations, so each embedded import template is rendered
//! once per export with a hole there (`canonical::Hole`) and the hole is
//! filled for every importer (`canonical::fill`): at 20x100 that is 4,000
//! renders for 76,000 objects. A render that reads a hole (`cluster`, or
//! the annotations other than by writing them) is not reused, and that
//! template is rendered per object as before, so the template stays the one
//! definition of the object (`imports`). Rendered files go into a sorted map, so output order never
//! depends on the order of work. `NEXT-STEPS.md` is the one file that is
//! prose: rendered from `next-steps.md` and written as it comes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use std::sync::{Arc, OnceLock};

use minijinja::value::Serde;
use minijinja::{context, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::diagnostics::{Code, Diagnostic};

mod canonical;
mod general;
mod imports;
mod next_steps;
mod overlay;
use crate::plan::{ClusterPlan, Federation, ImportedService, InstallerKind};
use general::{format_value, parse_back};

/// Every template meshfed uses, embedded at build time.
pub const TEMPLATES: [(&str, &str); 13] = [
    ("serviceentry.yaml", include_str!("../templates/serviceentry.yaml")),
    (
        "destinationrule.yaml",
        include_str!("../templates/destinationrule.yaml"),
    ),
    (
        "global-serviceentry.yaml",
        include_str!("../templates/global-serviceentry.yaml"),
    ),
    (
        "global-destinationrule.yaml",
        include_str!("../templates/global-destinationrule.yaml"),
    ),
    ("gateway.yaml", include_str!("../templates/gateway.yaml")),
    ("trust-bundle.yaml", include_str!("../templates/trust-bundle.yaml")),
    (
        "helm-istiod-values.yaml",
        include_str!("../templates/helm-istiod-values.yaml"),
    ),
    (
        "helm-gateway-values.yaml",
        include_str!("../templates/helm-gateway-values.yaml"),
    ),
    ("istio-operator.yaml", include_str!("../templates/istio-operator.yaml")),
    (
        "sail-istio-patch.yaml",
        include_str!("../templates/sail-istio-patch.yaml"),
    ),
    (
        "authorizationpolicy.yaml",
        include_str!("../templates/authorizationpolicy.yaml"),
    ),
    (
        "peerauthentication.yaml",
        include_str!("../templates/peerauthentication.yaml"),
    ),
    ("next-steps.md", include_str!("../templates/next-steps.md")),
];

/// The file, beside each cluster's output, that says what meshfed cannot set.
pub const NEXT_STEPS_FILE: &str = "NEXT-STEPS.md";

/// One output file of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub text: String,
    /// Listed in the cluster's kustomization (applied to the cluster);
    /// installer fragments are not.
    pub applied: bool,
}

/// A cluster's files, by file name.
pub type ClusterOutput = BTreeMap<String, OutputFile>;

pub struct Renderer {
    /// Every template, values written as JSON: the general path.
    env: Environment<'static>,
    /// The embedded templates not overridden, values written in canonical
    /// YAML (`canonical::format`).
    canonical: Environment<'static>,
    /// Where each template came from, for diagnostics.
    origins: BTreeMap<&'static str, PathBuf>,
    /// Each export's shared import, made on first use (by
    /// `ImportedService::index`): every importer reuses it.
    imports: Vec<OnceLock<SharedImport>>,
    /// The federation context (as JSON) the memos in `imports` were
    /// rendered with; a cluster of another federation does not use them.
    memo_federation: OnceLock<String>,
}

/// The templates each import renders, in order, into `imports-<source>.yaml`.
const IMPORT_TEMPLATES: [&str; 2] = ["serviceentry.yaml", "destinationrule.yaml"];

/// What every importer of one export shares. The service is kept, so a
/// renderer given another federation's import never answers with a stale
/// value.
struct SharedImport {
    service: Arc<ImportedService>,
    /// The import as a template value, `meta.annotations` to be overlaid.
    value: Value,
    /// Each of `IMPORT_TEMPLATES` rendered once for every importer, with a
    /// hole for the importer's annotations (`canonical::fill`); `None` when
    /// the template is overridden or its output depends on more than that
    /// (it reads `cluster`, or the annotations other than by writing them).
    memo: [OnceLock<Option<canonical::Reusable>>; 2],
}

/// A `--templates` folder must exist and hold only templates meshfed knows
/// by name: a misspelt `gateway.yml` would otherwise be ignored in silence
/// and the embedded template used. Hidden files (`.gitkeep`) are allowed.
fn check_overrides(dir: &Path) -> Result<(), Diagnostic> {
    let known = || TEMPLATES.map(|(name, _)| name).join(", ");
    let entries = std::fs::read_dir(dir).map_err(|e| {
        let why = if dir.exists() && !dir.is_dir() {
            "it is a file, not a folder".to_owned()
        } else {
            e.to_string()
        };
        Diagnostic::new(Code::MF304, "", format!("--templates {}: {why}", dir.display()))
            .hint(format!(
                "give a folder holding templates named like the embedded ones: {}",
                known()
            ))
            .at(dir, None)
    })?;
    let mut unknown: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && !TEMPLATES.iter().any(|(t, _)| t == name))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(first) => Err(Diagnostic::new(
            Code::MF304,
            "",
            format!(
                "--templates {}: {} {} not a template meshfed knows",
                dir.display(),
                unknown.join(", "),
                if unknown.len() == 1 { "is" } else { "are" }
            ),
        )
        .hint(format!(
            "name each override after the template it replaces: {}",
            known()
        ))
        .at(dir.join(first), None)),
    }
}

impl Renderer {
    /// The embedded templates, each replaced by a file of the same name in
    /// `overrides` where there is one, for a federation of `exports` exports
    /// (`Federation::exports`).
    pub fn new(overrides: Option<&Path>, exports: usize) -> Result<Self, Diagnostic> {
        let new_env = || {
            let mut env = Environment::new();
            env.set_undefined_behavior(UndefinedBehavior::Strict);
            env.add_filter("b64encode", |s: String| BASE64.encode(s.as_bytes()));
            env.add_filter("join", next_steps::join);
            env
        };
        let mut env = new_env();
        env.set_formatter(format_value);
        let mut canonical = new_env();
        canonical.set_formatter(canonical::format);
        let mut origins = BTreeMap::new();
        if let Some(dir) = overrides {
            check_overrides(dir)?;
        }
        for (name, embedded) in TEMPLATES {
            let (origin, source) = match overrides.map(|dir| dir.join(name)).filter(|p| p.is_file()) {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        Diagnostic::new(Code::MF301, "", format!("cannot read template: {e}"))
                            .hint("make the file readable, or remove it to use the embedded template")
                            .at(&path, None)
                    })?;
                    (path, text)
                }
                None => {
                    canonical
                        .add_template(name, embedded)
                        .map_err(|e| template_error(Path::new(name), &e))?;
                    (PathBuf::from("templates").join(name), embedded.to_owned())
                }
            };
            env.add_template_owned(name.to_owned(), source)
                .map_err(|e| template_error(&origin, &e))?;
            origins.insert(name, origin);
        }
        Ok(Renderer {
            env,
            canonical,
            origins,
            imports: (0..exports).map(|_| OnceLock::new()).collect(),
            memo_federation: OnceLock::new(),
        })
    }

    /// Renders one object's template and returns it as canonical YAML.
    fn object(&self, template: &str, ctx: Value) -> Result<String, Diagnostic> {
        let origin = &self.origins[template];
        if let Ok(embedded) = self.canonical.get_template(template) {
            canonical::start();
            let text = embedded.render(ctx.clone()).map_err(|e| template_error(origin, &e))?;
            if let Some(yaml) = canonical::finish(&text) {
                // Debug builds (every test run) check it against the general path.
                #[cfg(debug_assertions)]
                self.assert_general_agrees(template, ctx, &yaml);
                return Ok(yaml);
            }
        }
        self.general(template, ctx)
    }

    /// The general path: rendered with JSON values, parsed back, emitted.
    fn general(&self, template: &str, ctx: Value) -> Result<String, Diagnostic> {
        let origin = &self.origins[template];
        let text = self
            .env
            .get_template(template)
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(origin, &e))?;
        parse_back(origin, &text)
    }

    /// Panics unless `yaml`, an embedded template's canonical output, is
    /// what the general path gives and what re-emitting it gives.
    #[cfg(debug_assertions)]
    fn assert_general_agrees(&self, template: &str, ctx: Value, yaml: &str) {
        let general = self.general(template, ctx);
        assert!(
            matches!(&general, Ok(g) if g == yaml),
            "{template}: canonical output\n{yaml}\ndiffers from the general path's\n{general:?}"
        );
        let again = serde_norway::from_str::<serde_norway::Value>(yaml).map(|v| to_yaml(&v));
        assert!(
            matches!(&again, Ok(Ok(y)) if y == yaml),
            "{template}: canonical output is not its own re-emit:\n{yaml}"
        );
    }

    /// Every file of one cluster.
    pub fn cluster(&self, fed: &Federation, cluster: &ClusterPlan) -> Result<ClusterOutput, Diagnostic> {
        let mut files = ClusterOutput::new();
        let federation = Value::from(Serde(fed_context(fed)));
        let cl = Value::from(Serde(ClusterContext {
            name: &cluster.name,
            domain: &cluster.domain,
            trust_domain: &cluster.trust_domain,
            network: cluster.network.as_deref(),
        }));
        if let Some(trust) = &cluster.trust {
            let doc = self.object("trust-bundle.yaml", context! { federation => federation.clone(), cluster => cl.clone(), trust => Value::from(Serde(trust)) })?;
            files.insert(
                "trust-bundle.yaml".into(),
                OutputFile {
                    text: doc,
                    applied: true,
                },
            );
        }
        if let Some(gateway) = &cluster.gateway {
            let doc = self.object("gateway.yaml", context! { federation => federation.clone(), cluster => cl.clone(), gateway => Value::from(Serde(gateway)) })?;
            files.insert(
                "gateway.yaml".into(),
                OutputFile {
                    text: doc,
                    applied: true,
                },
            );
        }
        self.imports(fed, cluster, &federation, &cl, &mut files)?;
        for global in &cluster.globals {
            let ctx = context! { federation => federation.clone(), cluster => cl.clone(), global => Value::from(Serde(global)) };
            append(
                &mut files,
                "global-services.yaml",
                self.object("global-serviceentry.yaml", ctx.clone())?,
            );
            append(
                &mut files,
                "global-services.yaml",
                self.object("global-destinationrule.yaml", ctx)?,
            );
        }
        for auth in &cluster.authorizations {
            let ctx =
                context! { federation => federation.clone(), cluster => cl.clone(), auth => Value::from(Serde(auth)) };
            append(
                &mut files,
                "authorization.yaml",
                self.object("authorizationpolicy.yaml", ctx.clone())?,
            );
            append(
                &mut files,
                "authorization.yaml",
                self.object("peerauthentication.yaml", ctx)?,
            );
        }
        if let Some(mesh) = &cluster.mesh_config {
            let ctx =
                context! { federation => federation.clone(), cluster => cl.clone(), mesh => Value::from(Serde(mesh)) };
            self.installer_fragments(fed, !mesh.gateway_service_ports.is_empty(), ctx, &mut files)?;
        }
        // Prose, not an object: rendered as is, with one final newline.
        let ctx = context! { federation => federation.clone(), cluster => cl.clone(), steps => next_steps::steps_value(&cluster.next_steps) };
        let mut text = self
            .env
            .get_template("next-steps.md")
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(&self.origins["next-steps.md"], &e))?;
        // In place: 112 KB a cluster at 20x100.
        text.truncate(text.trim_end().len());
        text.push('\n');
        files.insert(NEXT_STEPS_FILE.to_owned(), OutputFile { text, applied: false });
        let kustomization = kustomization(&files)?;
        files.insert("kustomization.yaml".into(), kustomization);
        Ok(files)
    }
}

impl Renderer {
    /// The installer's fragments (not applied): the main one for the
    /// installer, and the gateway's values when the cluster exports.
    fn installer_fragments(
        &self,
        fed: &Federation,
        exporting: bool,
        ctx: Value,
        files: &mut ClusterOutput,
    ) -> Result<(), Diagnostic> {
        let mut fragment = |template: &str, ctx: Value| -> Result<(), Diagnostic> {
            let doc = self.object(template, ctx)?;
            files.insert(
                template.to_owned(),
                OutputFile {
                    text: doc,
                    applied: false,
                },
            );
            Ok(())
        };
        match fed.istio.installer {
            InstallerKind::Helm | InstallerKind::Sail => {
                let main = if fed.istio.installer == InstallerKind::Helm {
                    "helm-istiod-values.yaml"
                } else {
                    "sail-istio-patch.yaml"
                };
                fragment(main, ctx.clone())?;
                if exporting {
                    fragment("helm-gateway-values.yaml", ctx)?;
                }
            }
            InstallerKind::Istioctl => fragment("istio-operator.yaml", ctx)?,
            InstallerKind::None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
impl Renderer {
    /// Renders `source` as a `.yaml` template would be, for tests.
    pub(crate) fn render_yaml_str(&self, source: &str, ctx: Value) -> String {
        self.env.render_named_str("test.yaml", source, ctx).unwrap()
    }
}

/// The cluster's `kustomization.yaml`, listing its applied files.
fn kustomization(files: &ClusterOutput) -> Result<OutputFile, Diagnostic> {
    let resources: Vec<&str> = files
        .iter()
        .filter(|(_, f)| f.applied)
        .map(|(n, _)| n.as_str())
        .collect();
    let kustomization = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources,
    };
    let text = to_yaml(&kustomization).map_err(|e| {
        Diagnostic::new(Code::MF305, "", format!("cannot write kustomization.yaml: {e}"))
            .hint("this is a bug in meshfed: report it with the spec that caused it")
    })?;
    Ok(OutputFile { text, applied: false })
}

/// Adds a document to an applied multi-document file.
fn append(files: &mut ClusterOutput, name: &str, doc: String) {
    let file = files.entry(name.to_owned()).or_insert_with(|| OutputFile {
        text: String::new(),
        applied: true,
    });
    if !file.text.is_empty() {
        file.text.push_str("---\n");
    }
    file.text.push_str(&doc);
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization<'a> {
    api_version: &'a str,
    kind: &'a str,
    resources: Vec<&'a str>,
}

#[derive(Serialize)]
struct ClusterContext<'a> {
    name: &'a str,
    domain: &'a str,
    trust_domain: &'a str,
    network: Option<&'a str>,
}

#[derive(Serialize)]
struct FedContext<'a> {
    name: &'a str,
    istio: &'a crate::plan::IstioTarget,
    import_namespace: &'a str,
}

fn fed_context(fed: &Federation) -> FedContext<'_> {
    FedContext {
        name: &fed.name,
        istio: &fed.istio,
        import_namespace: &fed.import_namespace,
    }
}

fn template_error(file: &Path, e: &minijinja::Error) -> Diagnostic {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let mut msg = format!("template {name} failed: {}", e.kind());
    if let Some(detail) = e.detail() {
        msg.push_str(&format!(": {detail}"));
    }
    Diagnostic::new(Code::MF301, "", msg)
        .hint("fix the template; each template's header comment lists its context")
        .at(file, e.line())
}

/// `value` as meshfed's canonical YAML (`yaml::to_string`).
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String, serde_norway::Error> {
    crate::yaml::to_string(value)
}
