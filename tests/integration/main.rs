//! meshfed's integration tests: one test binary, one module per area. Each
//! runs the real `meshfed` binary (and, where users have them, the real
//! kubectl/kustomize, pre-commit, Graphviz and openssl) against files in a
//! temporary tree. Golden files are rewritten with `MESHFED_BLESS=1`.

/// Command-line arguments at their edges: `-o -`, `-o FILE`, `--templates`, closed stdout.
mod arguments;
/// `generate -o` record keeping, atomic writes, the folder lock, signals,
/// adoption after a lost manifest, and `check` drift detection.
mod check;
/// Completions, man page, diagnostic formats, colour, `explain`, stdin, help.
mod cli_habits;
/// `meshfed import deckhouse`.
mod deckhouse;
/// The static binary of the function image, run in an empty root.
mod function_image;
/// The core generator: golden scenarios, Istio CRD validation, determinism.
mod generate;
/// `meshfed graph` in Mermaid and DOT.
mod graph;
/// `meshfed inspect`.
mod inspect;
/// The wrong-input corpus in testdata/invalid.
mod invalid_inputs;
/// meshfed as an exec function under the real kpt (eval and render).
mod kpt;
/// KRM function mode, one folder per case in testdata/krm.
mod krm;
/// The legacy exec plugin under the real `kubectl kustomize`.
mod kustomize;
/// Deep nesting refused at every YAML entry point, before libyaml.
mod nesting;
/// The pre-commit hook under the real pre-commit.
mod precommit;
/// The remote roots reach the sidecars: each installer's fragment read as
/// Istio reads it, then a real openssl mTLS handshake.
mod sidecar_trust;
/// Shared helpers: Istio CRD validation and openssl-made certificates.
mod support;
/// `--templates` overrides and broken templates.
mod templates;
/// Every output path reads the same under YAML 1.1 (PyYAML) as under 1.2.
mod yaml_readers;
