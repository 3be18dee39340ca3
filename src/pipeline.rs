//! The whole pipeline in one call: spec file in, every selected cluster's
//! files out, with all diagnostics. Every front end (CLI, KRM function,
//! kustomize plugin) goes through here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{Scope, ScopedJoinHandle};

use crate::diagnostics::{Checked, Code, Diagnostic, Diagnostics};
use crate::intake::{self, BuildOptions};
use crate::line_index::ItemScan;
use crate::load::{self, SpecSource};
use crate::plan::{self, ClusterPlan, Federation};
use crate::render::{ClusterOutput, Renderer};
use crate::spec::MeshFederation;

#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub build: BuildOptions,
    /// Only these clusters; empty means all.
    pub clusters: Vec<String>,
    pub templates: Option<PathBuf>,
}

/// What a successful run produced (its warnings travel beside it, in [`Checked`]).
pub struct Rendered {
    pub federation: Federation,
    /// In KRM mode, the items (`intake::ObjectSource::item`) roots were read
    /// from: inputs, never to be replaced as earlier output.
    pub items_read: BTreeSet<usize>,
    /// Cluster name → its files.
    pub clusters: BTreeMap<String, ClusterOutput>,
}

/// Loads, checks and renders. On any error: every diagnostic, nothing rendered.
pub fn render_file(spec: &Path, opts: &RenderOptions) -> Checked<Rendered> {
    let src = SpecSource::read(spec).map_err(Diagnostics::from)?;
    render_source(&src, opts)
}

pub fn render_source(src: &SpecSource, opts: &RenderOptions) -> Checked<Rendered> {
    std::thread::scope(|scope| {
        let ((Planned { federation, items_read }, renderer), warnings) = prepare(scope, src, opts)?;
        let clusters: Vec<&ClusterPlan> = selected(&federation, opts).collect();
        let rendered = std::sync::Mutex::new(BTreeMap::new());
        render_parallel(&federation, &renderer, &clusters, |name, files| {
            rendered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_owned(), files);
            Ok(())
        })
        .map_err(Diagnostics::from)?;
        let rendered = Rendered {
            federation,
            items_read,
            clusters: rendered.into_inner().unwrap_or_else(|e| e.into_inner()),
        };
        Ok((rendered, warnings.placed()))
    })
}

/// Renders cluster by cluster and hands each one's files to `sink` (with the
/// federation's name and the cluster's), which owns them from then on, so memory never holds every cluster's output at
/// once. On success, the warnings; on error, every problem of the spec, or
/// the first error of rendering or of `sink`.
pub fn render_each<F>(src: &SpecSource, opts: &RenderOptions, sink: F) -> Checked<()>
where
    F: Fn(&str, &str, ClusterOutput) -> Result<(), Diagnostic> + Sync,
{
    std::thread::scope(|scope| {
        let ((Planned { federation, .. }, renderer), warnings) = prepare(scope, src, opts)?;
        let clusters: Vec<&ClusterPlan> = selected(&federation, opts).collect();
        let rendered = render_parallel(&federation, &renderer, &clusters, |cluster, files| {
            sink(&federation.name, cluster, files)
        });
        drop(clusters);
        free_aside((federation, renderer));
        let warnings = warnings.placed();
        rendered.map_err(Diagnostics::from)?;
        Ok(((), warnings))
    })
}

/// Renders the clusters on as many threads as the machine has cores and
/// hands each one's files to `sink`, in any order. On error, the error of the
/// first cluster (in name order) that failed, as a sequential run would
/// report it.
fn render_parallel<F>(
    federation: &Federation,
    renderer: &Renderer,
    clusters: &[&ClusterPlan],
    sink: F,
) -> Result<(), Diagnostic>
where
    F: Fn(&str, ClusterOutput) -> Result<(), Diagnostic> + Sync,
{
    // A thread (and its malloc arena) costs about a millisecond: only worth it
    // when there are hundreds of objects to render.
    let objects: usize = clusters.iter().map(|c| c.imports.len() + 1).sum();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(clusters.len())
        .min(1 + objects / 256);
    let shared = if workers > 1 {
        renderer.shared_imports(clusters)
    } else {
        Vec::new()
    };
    let (next_shared, next) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let failed = AtomicBool::new(false);
    let work = || {
        renderer.prerender(federation, &shared, &next_shared);
        let mut errors = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(cluster) = clusters.get(i) else { break };
            match renderer
                .cluster(federation, cluster)
                .and_then(|files| sink(&cluster.name, files))
            {
                Ok(()) => {}
                Err(d) => {
                    // Clusters are taken in order, so every cluster before this one
                    // is already taken and finishes: the first error is always found.
                    failed.store(true, Ordering::Relaxed);
                    errors.push((i, d));
                }
            }
        }
        errors
    };
    let mut errors: Vec<(usize, Diagnostic)> = if workers <= 1 {
        work()
    } else {
        // This thread is one of the workers: its allocator heap holds the
        // pages the spec's parse freed, which new threads would not reuse.
        std::thread::scope(|scope| {
            let handles: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
            let mut errors = work();
            for h in handles {
                errors.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            errors
        })
    };
    errors.sort_by_key(|(i, _)| *i);
    match errors.into_iter().next() {
        Some((_, d)) => Err(d),
        None => Ok(()),
    }
}

/// How many imports (at most: every export to every cluster) make a
/// federation's fan-out, or freeing its plan, worth a thread of its own:
/// past a few thousand, either takes longer than starting a thread.
const WORTH_A_THREAD: usize = 4096;

/// Frees `plan` (a federation's plan and its renderer) on a thread of its
/// own when it is large: at 20x100 that takes as long as rendering a
/// cluster, and the caller has files to put in place meanwhile.
fn free_aside(plan: (Federation, Renderer)) {
    if plan.0.exports * plan.0.clusters.len() >= WORTH_A_THREAD {
        // If no thread can be made, the closure (and the plan) is freed here.
        let _ = std::thread::Builder::new().spawn(move || drop(plan));
    }
}

/// A checked plan: the federation and the KRM items its roots were read from.
struct Planned {
    federation: Federation,
    items_read: BTreeSet<usize>,
}

/// The spec's warnings: placed at their lines, or still being placed on a
/// thread of the caller's scope while the caller goes on (builds the plan,
/// renders), to be joined when they are needed.
enum Warnings<'scope> {
    Placed(Diagnostics),
    Placing(ScopedJoinHandle<'scope, Diagnostics>),
}

impl Warnings<'_> {
    fn placed(self) -> Diagnostics {
        match self {
            Warnings::Placed(diagnostics) => diagnostics,
            Warnings::Placing(handle) => handle.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
        }
    }
}

/// The checked plan and the template set, or every problem; the warnings
/// may still be being placed on a thread of `scope`.
fn prepare<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    src: &'env SpecSource,
    opts: &'env RenderOptions,
) -> Result<((Planned, Renderer), Warnings<'scope>), Diagnostics> {
    let (planned, warnings) = checked_plan_in(scope, src, opts)?;
    let federation = &planned.federation;
    let mut diagnostics = Diagnostics::new();
    for name in &opts.clusters {
        if !federation.clusters.iter().any(|c| &c.name == name) {
            diagnostics.push(
                Diagnostic::new(
                    Code::MF130,
                    "spec.clusters",
                    format!("--cluster {name}: no such cluster in the federation"),
                )
                .hint(format!("pick one of: {}", cluster_names(federation)))
                .at(&src.file, None),
            );
        }
    }
    if diagnostics.has_errors() {
        let mut all = warnings.placed();
        all.extend(diagnostics);
        return Err(all);
    }
    let renderer = Renderer::new(opts.templates.as_deref(), federation.exports).map_err(Diagnostics::from)?;
    Ok(((planned, renderer), warnings))
}

fn selected<'a>(fed: &'a Federation, opts: &'a RenderOptions) -> impl Iterator<Item = &'a ClusterPlan> {
    fed.clusters
        .iter()
        .filter(|c| opts.clusters.is_empty() || opts.clusters.contains(&c.name))
}

/// Every check, no rendering: the plan and its warnings, or every problem.
pub fn validate_source(src: &SpecSource, opts: &RenderOptions) -> Checked<Federation> {
    checked_plan(src, opts).map(|(planned, warnings)| (planned.federation, warnings))
}

/// Load, intake (every check, every root read), then the pure plan.
fn checked_plan(src: &SpecSource, opts: &RenderOptions) -> Checked<Planned> {
    std::thread::scope(|scope| checked_plan_in(scope, src, opts).map(|(planned, w)| (planned, w.placed())))
}

/// [`checked_plan`], the warnings perhaps still being placed on a thread of `scope`.
fn checked_plan_in<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    src: &'env SpecSource,
    opts: &'env RenderOptions,
) -> Result<(Planned, Warnings<'scope>), Diagnostics> {
    let (spec, early) = load_with_lines(src).map_err(|mut diags| {
        // A typo elsewhere must not hide a pasted private key or an expired
        // root: every rootCA that parses still goes through intake.
        if let Ok(value) = load::parse_yaml(&src.text, &src.file) {
            diags.extend(intake::intake_roots(&value, src, &opts.build));
        }
        diags
    })?;
    plan_in(scope, &spec, src, &opts.build, false, early)
}

/// The spec, and the lines of its clusters' items: found while a large
/// spec is parsed in parts (`load::Cut`), else being found by a scan beside
/// the load (`intake::early_scan`), or neither for a small spec.
fn load_with_lines(src: &SpecSource) -> Result<(MeshFederation, Option<ItemScan>), Diagnostics> {
    let cut = load::Cut::of(&src.text);
    let early = intake::early_scan(src, cut.is_some());
    let (spec, lines) = load::load_spec_cut(src, cut.as_ref())?;
    let known = lines.map(|lines| ItemScan::known(load::CUT_SEQUENCE, lines));
    Ok((spec, known.or(early)))
}

/// [`validate_source`] for `meshfed graph`, which draws names, not
/// certificates: root CA problems are warnings (`intake::read`'s
/// `roots_as_warnings`), so an expired or missing root never hides the picture.
pub fn validate_for_graph(src: &SpecSource, opts: &RenderOptions) -> Checked<Federation> {
    let (spec, early) = load_with_lines(src)?;
    std::thread::scope(|scope| {
        plan_in(scope, &spec, src, &opts.build, true, early).map(|(planned, w)| (planned.federation, w.placed()))
    })
}

/// Intake, then the plan of what passed it; or every problem. The warnings
/// of a large spec are placed on a thread of `scope` meanwhile (at 20x100
/// that scan costs about as much as the plan); the caller joins it when it
/// needs them, after rendering for `generate`. `early`:
/// [`intake::early_scan`]'s, started before the spec was loaded.
fn plan_in<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    spec: &MeshFederation,
    src: &'env SpecSource,
    opts: &'env BuildOptions,
    roots_as_warnings: bool,
    early: Option<ItemScan>,
) -> Result<(Planned, Warnings<'scope>), Diagnostics> {
    let imports: usize = (spec.spec.clusters.iter()).map(|c| c.exports.len()).sum::<usize>() * spec.spec.clusters.len();
    let (input, unplaced, fanned) = if imports >= WORTH_A_THREAD {
        // The fan-out needs no roots: worked out beside intake (at 20x100
        // each takes 15M instructions); thrown away if the spec fails.
        std::thread::scope(|s| {
            let fanning = s.spawn(|| plan::fan_out(spec));
            let read = intake::read(spec, src, opts, roots_as_warnings, early);
            let fanned = fanning.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            read.map(|(input, unplaced)| (input, unplaced, fanned))
        })?
    } else {
        let (input, unplaced) = intake::read(spec, src, opts, roots_as_warnings, early)?;
        (input, unplaced, plan::fan_out(spec))
    };
    let warnings = if unplaced.worth_a_thread() {
        Warnings::Placing(scope.spawn(move || unplaced.place()))
    } else {
        Warnings::Placed(unplaced.place())
    };
    let planned = Planned {
        federation: plan::build(spec, fanned, &input.roots),
        items_read: input.items_read,
    };
    Ok((planned, warnings))
}

fn cluster_names(fed: &Federation) -> String {
    fed.clusters
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The applied objects of the given clusters as one multi-document stream.
pub fn stream(rendered: &Rendered) -> String {
    let mut out = String::new();
    for files in rendered.clusters.values() {
        for file in files.values().filter(|f| f.applied) {
            for doc in file.text.split_inclusive("\n---\n") {
                out.push_str("---\n");
                out.push_str(doc.strip_suffix("---\n").unwrap_or(doc));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A federation large enough for several render threads: three clusters,
    /// each exporting `services` services to the other two.
    fn large(services: usize) -> SpecSource {
        let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/certs");
        let mut spec = String::from(
            "apiVersion: meshfed.io/v1alpha1\nkind: MeshFederation\nmetadata: {name: big}\nspec:\n  clusters:\n",
        );
        for (n, name) in ["east", "north", "west"].iter().enumerate() {
            spec.push_str(&format!(
                "  - name: {name}\n    domain: {name}.example\n    rootCA: {{files: [{}]}}\n    gateway: {{addresses: [192.0.2.{n}]}}\n    exports:\n",
                certs.join(format!("{name}.example.pem")).display()
            ));
            for s in 0..services {
                spec.push_str(&format!(
                    "    - {{service: s{s}, namespace: ns, ports: [{{name: http, port: 80}}]}}\n"
                ));
            }
        }
        SpecSource {
            file: "big.yaml".into(),
            base_dir: ".".into(),
            text: spec,
        }
    }

    /// The plan and renderer of a valid spec, its warnings placed.
    fn prepared(src: &SpecSource, opts: &RenderOptions) -> (Planned, Renderer) {
        std::thread::scope(|scope| {
            let (prepared, warnings) = prepare(scope, src, opts).unwrap();
            warnings.placed();
            prepared
        })
    }

    /// A large spec parsed in parts (`load::Cut`) places each cluster's
    /// warning (MF153 here: each imports 1,200 hosts) at the line the full
    /// line index gives.
    #[test]
    fn warnings_of_a_spec_parsed_in_parts_stand_at_their_lines() {
        let src = large(600);
        assert!(
            load::Cut::of(&src.text).and_then(|cut| cut.parse()).is_some(),
            "not parsed in parts"
        );
        let (_, warnings) = validate_source(&src, &RenderOptions::default()).unwrap();
        let index = crate::line_index::LineIndex::build(&src.text);
        let placed: Vec<_> = warnings
            .iter()
            .map(|d| (d.path.clone(), d.location.as_ref().and_then(|l| l.line)))
            .collect();
        let expected: Vec<_> = (0..3)
            .map(|i| {
                let path = crate::line_index::item("spec.clusters", i);
                let line = index.line_of(&path);
                (path, line)
            })
            .collect();
        assert_eq!(placed, expected);
    }

    /// Past 4,096 imports the fan-out is worked out beside intake: the
    /// same plan as after it.
    #[test]
    fn the_fan_out_worked_out_beside_intake_is_the_plan_worked_out_after_it() {
        let src = large(700);
        let (Planned { federation, .. }, _) = prepared(&src, &RenderOptions::default());
        let spec = load::load_spec(&src).unwrap();
        let (input, _) = intake::read(&spec, &src, &BuildOptions::default(), false, None).unwrap();
        let after = plan::build(&spec, plan::fan_out(&spec), &input.roots);
        assert_eq!(federation.clusters[0].imports.len(), 1400);
        assert_eq!(
            serde_json::to_value(&federation).unwrap(),
            serde_json::to_value(&after).unwrap()
        );
    }

    /// Beside intake, the fan-out sees specs that fail their checks: it
    /// neither panics nor hides their diagnostics.
    #[test]
    fn a_spec_failing_its_checks_beside_the_fan_out_gets_its_diagnostics() {
        let mut src = large(700);
        src.text = src
            .text
            .replace("spec:\n", "spec:\n  authorization: importers\n")
            .replace(
                "service: s0, namespace: ns,",
                "service: s0, namespace: ns, to: [nowhere], selector: {app: s0},",
            );
        let opts = RenderOptions::default();
        let Err(diags) = std::thread::scope(|scope| prepare(scope, &src, &opts).map(|_| ())) else {
            panic!("an export to no such cluster passed");
        };
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|d| d.contains("nowhere")), "{text:?}");
    }

    #[test]
    fn an_import_built_on_its_shared_value_is_the_import_itself() {
        use minijinja::value::{Serde, Value};
        let src = large(3);
        let (Planned { federation, .. }, renderer) = prepared(&src, &RenderOptions::default());
        let keys = |v: &Value| v.try_iter().unwrap().map(|k| k.to_string()).collect::<Vec<_>>();
        let mut clusters = std::collections::BTreeSet::new();
        for c in &federation.clusters {
            for i in &c.imports {
                let annotations = Value::from(Serde(&*i.annotations));
                let built = renderer.import_value(i, annotations);
                let plain = Value::from(Serde(i));
                // What templates write, read and loop over is the same.
                let template = "{{ import.meta.labels }} {{ import.meta.annotations }} \
                    {{ import.subject_alt_names }} {{ import }} {{ import.meta.labels|length }} \
                    {% for k, v in import.meta.annotations|items %}{{ k }}={{ v }};{% endfor %}\
                    {% for s in import.subject_alt_names %}{{ loop.index }}:{{ s }};{% endfor %}\
                    {{ import.meta.labels['app.kubernetes.io/managed-by'] }}";
                let render = |v: &Value| renderer.render_yaml_str(template, minijinja::context! { import => v });
                assert_eq!(render(&built), render(&plain));
                let json = serde_json::to_value(&built).unwrap();
                assert_eq!(json, serde_json::to_value(&plain).unwrap());
                assert_eq!(keys(&built), keys(&plain));
                let meta = |v: &Value| v.get_attr("meta").unwrap();
                assert_eq!(keys(&meta(&built)), keys(&meta(&plain)));
                assert!(built.get_attr("no_such_field").unwrap().is_undefined());
                clusters.insert(json["meta"]["annotations"].to_string());
            }
        }
        assert_eq!(clusters.len(), 3, "each cluster's own annotations: {clusters:?}");
    }

    #[test]
    fn a_renderer_given_another_federation_renders_that_federation() {
        let opts = RenderOptions::default();
        let (Planned { federation: first, .. }, renderer) = prepared(&large(2), &opts);
        renderer.cluster(&first, &first.clusters[0]).unwrap();
        let mut other = large(2);
        other.text = other.text.replace("service: s0,", "service: renamed,");
        let (Planned { federation: second, .. }, own) = prepared(&other, &opts);
        let cluster = &second.clusters[0];
        let files = renderer.cluster(&second, cluster).unwrap();
        assert!(files.values().any(|f| f.text.contains("renamed")));
        assert_eq!(files, own.cluster(&second, cluster).unwrap());
    }

    #[test]
    fn parallel_rendering_gives_what_one_cluster_at_a_time_gives() {
        let src = large(200);
        let opts = RenderOptions::default();
        let (parallel, _) = render_source(&src, &opts).unwrap();
        let (Planned { federation, .. }, renderer) = prepared(&src, &opts);
        assert!(
            federation.clusters.iter().map(|c| c.imports.len()).sum::<usize>() > 512,
            "several threads"
        );
        let sequential: BTreeMap<String, ClusterOutput> = federation
            .clusters
            .iter()
            .map(|c| (c.name.clone(), renderer.cluster(&federation, c).unwrap()))
            .collect();
        assert_eq!(parallel.clusters, sequential);
    }

    #[test]
    fn a_failing_template_gives_one_stable_error_whatever_the_thread_order() {
        let src = large(200);
        let tmp = tempfile::tempdir().unwrap();
        // Fails in every cluster (each exports a service).
        std::fs::write(
            tmp.path().join("gateway.yaml"),
            "kind: Gateway\nspec: {{ cluster.name }}: [\n",
        )
        .unwrap();
        let opts = RenderOptions {
            templates: Some(tmp.path().to_owned()),
            ..RenderOptions::default()
        };
        let errors: Vec<Vec<String>> = (0..5)
            .map(|_| {
                render_source(&src, &opts)
                    .err()
                    .unwrap()
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .collect();
        assert_eq!(errors[0].len(), 1, "{:?}", errors[0]);
        assert!(errors[0][0].contains("error[MF302]"), "{:?}", errors[0]);
        assert!(errors.iter().all(|e| e == &errors[0]), "{errors:?}");
    }
}
