//! Intake: everything the plan is built from, read and checked. The spec's
//! semantic checks (`plan::checks`) and every root CA source of every
//! cluster (`roots`: files, inline PEM, SPIFFE bundles; `objects`: a KRM
//! function's ConfigMaps and Secrets) are reported in spec order, each at
//! its line; what passes goes to the plan as plain values ([`PlanInput`]).
//! All file reading before the plan happens here (through `load`'s bounded
//! reader), so the plan does none.

use std::cell::OnceCell;
use std::collections::BTreeSet;

use crate::certs::CertPolicy;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, Location};
use crate::line_index::{ItemScan, LineIndex};
use crate::load::SpecSource;
use crate::plan::{checks, ClusterRoots};
use crate::spec::{AuthorizationMode, MeshFederation};

mod objects;
mod roots;

pub use objects::{ObjectKind, ObjectSource, ObjectSources};
pub use roots::intake_roots;

/// What intake hands on for a spec that passed every check.
#[derive(Debug, Default)]
pub struct PlanInput {
    /// Every cluster's checked roots: with the spec, the plan's input.
    pub roots: ClusterRoots,
    /// In KRM mode, the items (`ObjectSource::item`) roots were read from:
    /// inputs, never to be replaced as earlier output.
    pub items_read: BTreeSet<usize>,
}

/// Runs every check of a schema-valid spec and reads every cluster's roots,
/// collecting all problems in one pass. With `roots_as_warnings` (`meshfed
/// graph`, which needs names, not certificates) an expired, missing or
/// broken root is a warning and the cluster goes on without it.
///
/// What passes comes back as plain values for the plan, beside the warnings
/// still to be placed at their spec lines ([`Unplaced`]); every problem, all
/// placed, when anything is an error.
///
/// `early`: the lines of `spec.clusters[N]`, being found meanwhile
/// ([`early_scan`]), used if every problem to place is at such a path.
pub fn read<'a>(
    spec: &MeshFederation,
    src: &'a SpecSource,
    opts: &'a BuildOptions,
    roots_as_warnings: bool,
    early: Option<ItemScan>,
) -> Result<(PlanInput, Unplaced<'a>), Diagnostics> {
    let mut b = Reader::new(src, opts, roots_as_warnings);
    b.early = early;
    let s = &spec.spec;
    b.report_all(checks::federation(spec));
    let names: BTreeSet<&str> = s.clusters.iter().map(|c| c.name.as_str()).collect();
    let needs_selector = s.authorization == Some(AuthorizationMode::Importers);
    let mut roots = ClusterRoots::default();
    for (ci, c) in s.clusters.iter().enumerate() {
        b.report_all(checks::exports(ci, c, &names, needs_selector));
        let cluster_roots = roots::read_roots(&mut b, ci, c, &opts.certs);
        roots.insert(&c.name, cluster_roots);
    }
    b.report_all(
        crate::plan::global::check(&spec.metadata.name, s)
            .into_iter()
            .chain(crate::plan::global::check_limits(s)),
    );
    if b.diags.has_errors() {
        return Err(b.placed());
    }
    let input = PlanInput {
        roots,
        items_read: std::mem::take(&mut b.items_read),
    };
    Ok((input, Unplaced(b)))
}

/// The warnings of a spec that passed intake, each still to be placed at
/// its spec line. At 20x100, where every cluster warns (MF153), finding
/// their lines costs about as much as the plan, so the caller may place
/// them on another thread while it builds the plan.
pub struct Unplaced<'a>(Reader<'a>);

impl Unplaced<'_> {
    /// The warnings, each at its file and line.
    pub fn place(self) -> Diagnostics {
        self.0.placed()
    }

    /// Whether placing is worth a thread of its own: there is something to
    /// place, in a spec past 32 KiB (scanning that takes a few milliseconds,
    /// more than starting a thread and its allocator arena costs). Where an
    /// early scan has their lines, the thread only waits for it.
    pub fn worth_a_thread(&self) -> bool {
        !self.0.unplaced.is_empty() && self.0.src.text.len() >= PLACE_ASIDE_BYTES
    }
}

/// The spec size from which finding lines is worth a thread of its own:
/// scanning 32 KiB takes a few milliseconds, more than starting a thread and
/// its allocator arena costs.
const PLACE_ASIDE_BYTES: usize = 32 * 1024;

/// In a large spec, starts finding the line of every `spec.clusters[N]` on a
/// thread of its own, to hand to [`read`] when the spec is loaded. A large
/// federation warns at its clusters' paths (at 20x100 each cluster warns
/// MF153, and finding those lines takes half as long as loading the spec),
/// so the lines are found while the spec is loaded and checked, on a core
/// that is idle then, instead of after the checks. Dropped unused (no
/// warning, or one elsewhere), the scan stops. Not started when the spec
/// is `cut` (`load::Cut`): parsing it in parts finds those lines.
pub fn early_scan(src: &SpecSource, cut: bool) -> Option<ItemScan> {
    if cut || src.text.len() < PLACE_ASIDE_BYTES {
        return None;
    }
    ItemScan::start(&src.text, "spec.clusters")
}

/// Settings for intake: the certificate policy, and in KRM mode the objects
/// roots may be read from.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub certs: CertPolicy,
    /// The ConfigMaps and Secrets among a KRM function's items, which
    /// `rootCA.configMaps`/`rootCA.secrets` name; `None` outside KRM mode.
    pub objects: Option<ObjectSources>,
}

/// One intake run: where diagnostics go and how they are placed.
struct Reader<'a> {
    src: &'a SpecSource,
    objects: Option<&'a ObjectSources>,
    /// The items (`ObjectSource::item`) a root was read from.
    items_read: BTreeSet<usize>,
    /// The full index, built only if a check needs a line while reading
    /// (an inline PEM's first line): a valid spec never needs it.
    index: OnceCell<LineIndex>,
    /// The lines of the clusters' paths, being found meanwhile ([`early_scan`]).
    early: Option<ItemScan>,
    diags: Diagnostics,
    /// Which of `diags` are still to be placed at their spec line: all at
    /// once, by [`Reader::placed`], in one scan for just their paths.
    unplaced: Vec<usize>,
    /// `meshfed graph` needs names, not certificates: root CA problems are
    /// warnings and the plan is built without those roots.
    roots_as_warnings: bool,
}

/// Codes of root CA sources and their certificates (MF116, MF2xx, the
/// SPIFFE bundle's MF5xx), which `meshfed graph` reports as warnings.
fn is_root_problem(code: Code) -> bool {
    code == Code::MF116 || code.as_str().starts_with("MF2") || code.as_str().starts_with("MF5")
}

impl<'a> Reader<'a> {
    fn new(src: &'a SpecSource, opts: &'a BuildOptions, roots_as_warnings: bool) -> Self {
        Reader {
            src,
            objects: opts.objects.as_ref(),
            items_read: BTreeSet::new(),
            index: OnceCell::new(),
            early: None,
            diags: Diagnostics::new(),
            unplaced: Vec::new(),
            roots_as_warnings,
        }
    }

    /// The spec's full line index, built on first use.
    fn line_index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::build(&self.src.text))
    }

    /// Whether the early scan has the line of every diagnostic to place.
    fn early_covers(&self) -> bool {
        self.early.as_ref().is_some_and(|early| {
            (self.unplaced.iter()).all(|&i| self.diags.iter().nth(i).is_some_and(|d| early.covers(&d.path)))
        })
    }

    /// Keeps a diagnostic; one without a place of its own is placed at its
    /// line of the spec by [`Reader::placed`].
    fn report(&mut self, mut d: Diagnostic) {
        if self.roots_as_warnings && d.is_error() && is_root_problem(d.code) {
            d = d.as_warning();
        }
        if d.location.is_none() {
            self.unplaced.push(self.diags.len());
        }
        self.diags.push(d);
    }

    /// The diagnostics, each without a place of its own placed at its spec
    /// line: the same line the full index gives, found in one scan that
    /// records only these paths (20x100 warns MF153 once per cluster, and
    /// indexing every key of its spec cost 12% of `generate`).
    fn placed(mut self) -> Diagnostics {
        if self.unplaced.is_empty() {
            return self.diags;
        }
        let covered = self.early_covers();
        // An early scan that is not used stops when dropped.
        let early = self.early.take().filter(|_| covered);
        let index = self.index.take().unwrap_or_else(|| match early {
            Some(early) => early.join(),
            None => {
                let all: Vec<&Diagnostic> = self.diags.iter().collect();
                LineIndex::for_paths(&self.src.text, self.unplaced.iter().map(|&i| all[i].path.as_str()))
            }
        });
        for &i in &self.unplaced {
            if let Some(d) = self.diags.since_mut(i).next() {
                let line = index.line_of(&d.path);
                d.location = Some(Location {
                    file: self.src.file.clone(),
                    line,
                });
            }
        }
        self.diags
    }

    fn report_all(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        for d in diagnostics {
            self.report(d);
        }
    }
}
