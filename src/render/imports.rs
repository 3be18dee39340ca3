//! Imports: each cluster's `imports-<source>.yaml`. An import's objects
//! differ between importers only in the importer's annotations, so each
//! embedded import template is rendered once per export with holes
//! (`canonical::Hole`) and kept; each importer's object is that text
//! filled (`canonical::fill`), unless the render read a hole, in which case
//! the object is rendered per import as before.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use minijinja::value::Serde;
use minijinja::{context, Value};

use super::overlay::overlay_annotations;
use super::{canonical, fed_context, ClusterOutput, OutputFile, Renderer, SharedImport, IMPORT_TEMPLATES};
use crate::diagnostics::Diagnostic;
use crate::plan::{ClusterPlan, Federation, ServiceImport};

impl Renderer {
    /// Every import of `cluster`, its ServiceEntry and DestinationRule
    /// appended to `imports-<source>.yaml`.
    pub(super) fn imports(
        &self,
        fed: &Federation,
        cluster: &ClusterPlan,
        federation: &Value,
        cl: &Value,
        files: &mut ClusterOutput,
    ) -> Result<(), Diagnostic> {
        // Imports differ from cluster to cluster only in their annotations:
        // each template is rendered once per export (with a hole for them)
        // and filled in for each importer, where its output allows it.
        let memo = self.memo_usable(fed);
        let annotations = |i: &ServiceImport| Value::from(Serde(&*i.annotations));
        let mut shared = cluster
            .imports
            .first()
            .map(|i| (i.annotations.clone(), canonical::Filling::new(annotations(i))));
        // One file per source cluster, whose imports (sorted by source) are
        // one run: its name is made and looked up once per run, and its text
        // reserved once the first object shows how long each is.
        for run in cluster
            .imports
            .chunk_by(|a, b| a.service.source_cluster == b.service.source_cluster)
        {
            let file = files
                .entry(format!("imports-{}.yaml", run[0].service.source_cluster))
                .or_insert_with(|| OutputFile {
                    text: String::new(),
                    applied: true,
                });
            for (n, import) in run.iter().enumerate() {
                let start = file.text.len();
                let mut own;
                let filling = match &mut shared {
                    Some((map, filling)) if Arc::ptr_eq(map, &import.annotations) => filling,
                    _ => {
                        own = canonical::Filling::new(annotations(import));
                        &mut own
                    }
                };
                self.import(import, (memo, federation, cl), filling, &mut file.text)?;
                if n == 0 {
                    let each = file.text.len() - start;
                    let rest = each * (run.len() - 1);
                    file.text.reserve(rest + rest / 16);
                }
            }
        }
        Ok(())
    }

    /// One import of each export that `clusters` import, in export order:
    /// what [`Renderer::prerender`] works through.
    pub fn shared_imports<'f>(&self, clusters: &[&'f ClusterPlan]) -> Vec<&'f ServiceImport> {
        let mut first: Vec<Option<&ServiceImport>> = vec![None; self.imports.len()];
        for import in clusters.iter().flat_map(|c| &c.imports) {
            if let Some(slot) = first.get_mut(import.service.index) {
                slot.get_or_insert(import);
            }
        }
        first.into_iter().flatten().collect()
    }

    /// Renders the per-export objects every importer shares, taking exports
    /// from `shared` (from [`Renderer::shared_imports`]) by the `next`
    /// counter until none is left. Each render thread runs this before its
    /// clusters, so the threads share these renders out between them instead
    /// of one waiting while the other makes the one both need.
    pub fn prerender(&self, fed: &Federation, shared: &[&ServiceImport], next: &AtomicUsize) {
        if !self.memo_usable(fed) {
            return;
        }
        let federation = Value::from(Serde(fed_context(fed)));
        while let Some(import) = shared.get(next.fetch_add(1, Ordering::Relaxed)) {
            for slot in 0..IMPORT_TEMPLATES.len() {
                self.memo(slot, &federation, import);
            }
        }
    }

    /// Whether the per-export renders kept are `fed`'s: the first
    /// federation this renderer sees is the one they are kept for.
    fn memo_usable(&self, fed: &Federation) -> bool {
        let key = serde_json::to_string(&fed_context(fed)).unwrap_or_default();
        *self.memo_federation.get_or_init(|| key.clone()) == key
    }

    /// Appends the objects of one import to its file's `text`: each filled
    /// into its per-export render where that is kept (`memo`: the federation
    /// context is the one it was made for), else rendered.
    fn import(
        &self,
        import: &ServiceImport,
        (memo, federation, cl): (bool, &Value, &Value),
        filling: &mut canonical::Filling,
        text: &mut String,
    ) -> Result<(), Diagnostic> {
        let annotations = filling.value().clone();
        let ctx = OnceLock::new();
        let ctx = || {
            ctx.get_or_init(|| {
                let import = self.import_value(import, annotations.clone());
                context! { federation => federation.clone(), cluster => cl.clone(), import => import }
            })
            .clone()
        };
        for (slot, template) in IMPORT_TEMPLATES.into_iter().enumerate() {
            if !text.is_empty() {
                text.push_str("---\n");
            }
            #[cfg(debug_assertions)]
            let start = text.len();
            let reused = memo
                && self
                    .memo(slot, federation, import)
                    .is_some_and(|kept| canonical::fill(kept, filling, text));
            if reused {
                // Debug builds (every test run) check it against rendering the object.
                #[cfg(debug_assertions)]
                assert_eq!(
                    Ok(&text[start..]),
                    self.object(template, ctx()).as_deref(),
                    "{template}: the per-export memo differs from rendering the object"
                );
            } else {
                text.push_str(&self.object(template, ctx())?);
            }
        }
        Ok(())
    }

    /// `import` as its template value: the export's shared value, made once,
    /// with `meta.annotations` replaced by this cluster's (`annotations`,
    /// best made once per cluster).
    pub(crate) fn import_value(&self, import: &ServiceImport, annotations: Value) -> Value {
        let base = match self.shared(import) {
            Some(shared) => shared.value.clone(),
            None => Value::from(Serde(&*import.service)),
        };
        overlay_annotations(base, annotations)
    }

    /// The export's shared import, or `None` for an import of a federation
    /// other than the one this renderer first saw it in.
    fn shared(&self, import: &ServiceImport) -> Option<&SharedImport> {
        self.imports
            .get(import.service.index)
            .map(|cell| {
                cell.get_or_init(|| SharedImport {
                    service: import.service.clone(),
                    value: Value::from(Serde(&*import.service)),
                    memo: Default::default(),
                })
            })
            .filter(|shared| Arc::ptr_eq(&shared.service, &import.service))
    }

    /// The `slot`th of `IMPORT_TEMPLATES` rendered once for every importer
    /// of `import`'s export, a hole where the annotations go.
    fn memo(&self, slot: usize, federation: &Value, import: &ServiceImport) -> Option<&canonical::Reusable> {
        let shared = self.shared(import)?;
        let memo = shared.memo[slot].get_or_init(|| {
            let template = self.canonical.get_template(IMPORT_TEMPLATES[slot]).ok()?;
            let import = overlay_annotations(shared.value.clone(), canonical::Hole::writable());
            canonical::start();
            let ctx =
                context! { federation => federation.clone(), cluster => canonical::Hole::unused(), import => import };
            canonical::finish_reusable(&template.render(ctx).ok()?)
        });
        memo.as_ref()
    }
}
