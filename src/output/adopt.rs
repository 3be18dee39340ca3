//! Adoption: a file the manifest does not list that is recognisably
//! meshfed's all the same (`adopts`), so a lost or merged manifest does not
//! lock meshfed out of its own output.

use std::path::Path;

use crate::render::{ClusterOutput, NEXT_STEPS_FILE};

/// Whether the file `name` in `cluster_dir`, which the manifest does not
/// list, is meshfed's all the same, so that a lost or merged manifest does
/// not lock meshfed out of its own output:
///
/// - its content is exactly what this run writes there (overwriting it
///   changes nothing), which is how installer fragments are recognised:
///   they are Helm values or patches and carry no labels;
/// - every document in it is an object labelled
///   `app.kubernetes.io/managed-by: meshfed` and `meshfed.io/federation:
///   <this federation>`, as every object meshfed renders is;
/// - it is a `kustomization.yaml` holding nothing but `apiVersion`, `kind`
///   and `resources`, each resource a file this run writes in that folder or
///   a labelled file of this federation beside it: meshfed's own shape,
///   listing only meshfed's files;
/// - it is the cluster's `NEXT-STEPS.md` and says, as meshfed's template
///   does, that meshfed wrote the folder for this cluster of this federation.
///
/// A fragment that differs from what this run writes is not adopted (it
/// carries nothing that says whose it is): MF401 as before.
pub(super) fn adopts(dir: &Path, cluster: &str, name: &str, federation: &str, files: &ClusterOutput) -> bool {
    let cluster_dir = dir.join(cluster);
    let Ok(text) = std::fs::read_to_string(cluster_dir.join(name)) else {
        return false;
    };
    if files.get(name).is_some_and(|f| f.text == text) {
        return true;
    }
    match name {
        "kustomization.yaml" => lists_only_meshfeds(&text, &cluster_dir, federation, files),
        NEXT_STEPS_FILE => says_meshfed_wrote_it(&text, cluster, federation),
        _ => carries_labels(&text, federation),
    }
}

/// What `templates/next-steps.md` says near its top, whatever the line
/// breaks (tests/integration/check.rs `a_lost_manifest_adopts_meshfeds_own_files`
/// fails if the template stops saying it).
fn next_steps_signature(cluster: &str, federation: &str) -> String {
    format!("meshfed wrote this folder for cluster `{cluster}` of federation `{federation}`.")
}

fn says_meshfed_wrote_it(text: &str, cluster: &str, federation: &str) -> bool {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.contains(&next_steps_signature(cluster, federation))
}

/// Every document of `text` is an object with meshfed's two labels for
/// `federation`, and there is at least one.
fn carries_labels(text: &str, federation: &str) -> bool {
    use serde::Deserialize;
    let mut objects = 0;
    for doc in serde_norway::Deserializer::from_str(text) {
        let Ok(value) = serde_norway::Value::deserialize(doc) else {
            return false;
        };
        if value.is_null() {
            continue;
        }
        let labels = &value["metadata"]["labels"];
        if labels["app.kubernetes.io/managed-by"].as_str() != Some("meshfed")
            || labels["meshfed.io/federation"].as_str() != Some(federation)
        {
            return false;
        }
        objects += 1;
    }
    objects > 0
}

fn lists_only_meshfeds(text: &str, cluster_dir: &Path, federation: &str, files: &ClusterOutput) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Kustomization {
        #[serde(rename = "apiVersion")]
        api_version: String,
        kind: String,
        resources: Vec<String>,
    }
    let Ok(k) = serde_norway::from_str::<Kustomization>(text) else {
        return false;
    };
    k.api_version == "kustomize.config.k8s.io/v1beta1"
        && k.kind == "Kustomization"
        && k.resources.iter().all(|r| {
            files.contains_key(r)
                || (!r.contains('/')
                    && !r.starts_with('.')
                    && std::fs::read_to_string(cluster_dir.join(r)).is_ok_and(|t| carries_labels(&t, federation)))
        })
}
