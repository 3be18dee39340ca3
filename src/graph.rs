//! `meshfed graph`: the federation at a glance. Clusters are nodes; each
//! import is an edge from the importing cluster to the exporting one
//! (the direction calls go), labelled with the services; trust between two
//! clusters is a separate dashed, undirected edge. A global service is a
//! node of its own, with an edge from every cluster that serves it.
//!
//! Mermaid renders in GitHub markdown; DOT goes through Graphviz.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::plan::Federation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphFormat {
    #[default]
    Mermaid,
    Dot,
}

/// What the graph shows, derived once from the plan.
struct Edges<'a> {
    /// (importer, exporter) → services, sorted.
    imports: BTreeMap<(&'a str, &'a str), Vec<String>>,
    /// Unordered peer pairs (smaller name first).
    trust: BTreeSet<(&'a str, &'a str)>,
    /// Global host → the clusters that export it, sorted.
    globals: BTreeMap<&'a str, BTreeSet<&'a str>>,
}

fn edges(fed: &Federation) -> Edges<'_> {
    let mut imports: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    let mut trust = BTreeSet::new();
    let mut globals: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for c in &fed.clusters {
        for g in &c.globals {
            let serving = globals.entry(g.host.as_str()).or_default();
            serving.extend(g.endpoints.iter().map(|e| e.cluster.as_str()));
        }
        for i in c.imports.iter().map(|i| &*i.service) {
            let service = i.host.split(".svc.").next().unwrap_or(&i.host).to_owned();
            imports
                .entry((c.name.as_str(), i.source_cluster.as_str()))
                .or_default()
                .push(service);
        }
        for r in c.trust.iter().flat_map(|t| &t.remotes) {
            let pair = if c.name < r.cluster {
                (c.name.as_str(), r.cluster.as_str())
            } else {
                (r.cluster.as_str(), c.name.as_str())
            };
            trust.insert(pair);
        }
    }
    for services in imports.values_mut() {
        services.sort();
    }
    Edges {
        imports,
        trust,
        globals,
    }
}

pub fn render(fed: &Federation, format: GraphFormat) -> String {
    match format {
        GraphFormat::Mermaid => mermaid(fed),
        GraphFormat::Dot => dot(fed),
    }
}

fn mermaid(fed: &Federation) -> String {
    let e = edges(fed);
    // Mermaid ids are positional (c0, c1...): cluster names may hold '-', which Mermaid reads as an edge.
    let id: BTreeMap<&str, String> = fed
        .clusters
        .iter()
        .enumerate()
        .map(|(n, c)| (c.name.as_str(), format!("c{n}")))
        .collect();
    let mut out = String::from("flowchart LR\n");
    for c in &fed.clusters {
        let _ = writeln!(
            out,
            "  {}[\"{}<br/><small>{}</small>\"]",
            id[c.name.as_str()],
            c.name,
            c.domain
        );
    }
    for ((importer, exporter), services) in &e.imports {
        let _ = writeln!(
            out,
            "  {} -->|\"{}\"| {}",
            id[importer],
            services.join("<br/>"),
            id[exporter]
        );
    }
    for (a, b) in &e.trust {
        let _ = writeln!(out, "  {} -.-|trust| {}", id[a], id[b]);
    }
    for (n, (host, exporters)) in e.globals.iter().enumerate() {
        let _ = writeln!(out, "  g{n}([\"{host}<br/><small>global</small>\"])");
        for exporter in exporters {
            let _ = writeln!(out, "  {} ==>|global| g{n}", id[exporter]);
        }
    }
    out
}

fn dot(fed: &Federation) -> String {
    let e = edges(fed);
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, style=rounded];\n",
        fed.name
    );
    for c in &fed.clusters {
        let _ = writeln!(out, "  \"{}\" [label=\"{}\\n{}\"];", c.name, c.name, c.domain);
    }
    for ((importer, exporter), services) in &e.imports {
        let _ = writeln!(
            out,
            "  \"{importer}\" -> \"{exporter}\" [label=\"{}\"];",
            services.join("\\n")
        );
    }
    for (a, b) in &e.trust {
        let _ = writeln!(
            out,
            "  \"{a}\" -> \"{b}\" [dir=none, style=dashed, color=gray40, fontcolor=gray40, label=\"trust\"];"
        );
    }
    for (host, exporters) in &e.globals {
        let _ = writeln!(out, "  \"{host}\" [shape=ellipse, label=\"{host}\\nglobal\"];");
        for exporter in exporters {
            let _ = writeln!(out, "  \"{exporter}\" -> \"{host}\" [style=bold, label=\"global\"];");
        }
    }
    out.push_str("}\n");
    out
}
