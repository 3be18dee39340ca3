//! Every diagnostic code, declared once: its severity and its meaning in
//! one line. `docs/diagnostics.md` documents each under `### MFnnn`, whose
//! bold first sentence is this meaning (with `Warning: ` before a warning's);
//! the tests below fail on a code that is undocumented, documented twice,
//! documented with another meaning or severity, or used nowhere in `src/`.
//!
//! Codes are stable: a code keeps its meaning for good, and a retired code
//! is not reused. The hundreds say where a problem was found: MF0xx reading
//! the spec, MF1xx its structure and meaning, MF2xx root CA certificates,
//! MF3xx rendering and writing, MF4xx pipelines (output folder, KRM, plugin)
//! and the command line, MF5xx `inspect` and SPIFFE bundles, MF6xx
//! `import deckhouse`.

use super::Severity;

macro_rules! codes {
    ($($code:ident $severity:ident $meaning:literal,)*) => {
        /// A diagnostic code. Its name is the code as printed (`MF104`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($code,)*
        }

        impl Code {
            /// Every declared code, in order.
            #[cfg(test)]
            pub const ALL: &[Code] = &[$(Code::$code,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)*
                }
            }

            /// Errors stop generation; warnings are printed and change nothing.
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$code => Severity::$severity,)*
                }
            }

            /// What the code means, in one line (the bold sentence of its
            /// entry in `docs/diagnostics.md`).
            #[cfg(test)]
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$code => $meaning,)*
                }
            }
        }

        impl std::fmt::Display for Code {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

codes! {
    MF001 Error "The spec file cannot be read",
    MF002 Error "The spec is not valid YAML",
    MF003 Error "The YAML nests or repeats aliases beyond any real spec",
    MF004 Error "The file holds more than one YAML document",
    MF101 Error "Unknown field",
    MF102 Error "A required field is missing",
    MF103 Error "A value has the wrong type",
    MF104 Error "A value is not allowed",
    MF105 Error "The file is a `MeshFederationMember`, not a `MeshFederation`",
    MF110 Error "The federation has no clusters",
    MF111 Warning "Only one cluster",
    MF112 Error "Two clusters have the same name",
    MF113 Error "Two clusters have the same DNS domain",
    MF114 Error "Two clusters have the same SPIFFE trust domain",
    MF115 Error "`cluster.local` as a domain or trust domain",
    MF116 Error "A cluster has no root CA source",
    MF117 Error "A cluster exports services but has no gateway address",
    MF118 Error "A gateway address is neither an IP address nor a DNS name",
    MF119 Error "A service is exported twice",
    MF120 Error "`to` names a cluster that does not exist",
    MF121 Error "`to` names the exporting cluster itself",
    MF122 Error "A port number is listed twice",
    MF123 Error "A port name is listed twice",
    MF124 Error "The Istio version is not supported",
    MF125 Warning "A port name does not say its protocol",
    MF126 Warning "The Istio version is newer than meshfed was checked against",
    MF127 Warning "An empty `to`",
    MF128 Warning "A port's name and its `protocol` disagree",
    MF129 Error "A port name asks for UDP",
    MF130 Error "`--cluster` names a cluster that is not in the federation",
    MF131 Warning "A gateway address is listed twice",
    MF132 Warning "A MeshFederation's `metadata.namespace`, `labels` or `annotations` are not used",
    MF133 Warning "No cluster exports anything",
    MF134 Warning "A cluster serving a global host with others has no `locality`",
    MF135 Error "Two objects a cluster imports would have the same name",
    MF140 Error "An export has no workload selector, but `spec.authorization: importers` needs one",
    MF150 Error "`spec.globalDomain` is a cluster's domain, or a name inside one",
    MF151 Error "The exporters of one global service disagree on its ports",
    MF152 Error "A ServiceEntry would exceed Istio's CRD caps",
    MF153 Warning "A cluster imports more than 1,000 hosts, some visible in every namespace",
    MF201 Error "A root CA file is missing or unreadable",
    MF202 Error "The file is DER (binary), not PEM",
    MF203 Error "A private key is in a root CA source",
    MF204 Error "A PEM block is not a `CERTIFICATE`",
    MF205 Error "A `CERTIFICATE` block is not a valid X.509 certificate",
    MF206 Error "Not a CA certificate",
    MF207 Error "The CA may not sign certificates",
    MF208 Error "The root has expired",
    MF209 Error "The root is not valid yet",
    MF210 Warning "The root expires soon",
    MF211 Error "The root is signed with SHA-1",
    MF212 Error "The root has an RSA key under 2048 bits",
    MF213 Warning "The certificate is not self-signed",
    MF214 Warning "A certificate is given twice",
    MF215 Warning "The certificate's SPIFFE URI SAN names another trust domain",
    MF216 Error "The source is empty, or holds no PEM block",
    MF217 Error "A PEM block is not valid base64",
    MF218 Error "The PEM is truncated",
    MF219 Error "The file is binary",
    MF301 Error "A template cannot be read or does not render",
    MF302 Error "A template rendered invalid output",
    MF303 Error "An output file cannot be written",
    MF304 Error "The `--templates` folder cannot be used",
    MF305 Error "Meshfed cannot serialise an object it built",
    MF401 Error "A file meshfed did not write is where generate would write",
    MF402 Error "`DIR/.meshfed-manifest` cannot be read, or a line is not a `cluster/file` path",
    MF403 Error "`check` cannot read a file of the output folder",
    MF410 Error "Stdin is not a KRM `ResourceList`",
    MF411 Error "The `functionConfig` is neither a `MeshFederationMember` nor a `MeshFederation`",
    MF412 Error "The `MeshFederationMember` is not valid",
    MF420 Error "`rootCA.configMaps` or `rootCA.secrets` outside KRM function mode",
    MF421 Error "The ConfigMap or Secret a root CA reference names is not among the function's items",
    MF422 Error "The referenced ConfigMap or Secret has no such key",
    MF423 Error "Several items match a reference without `namespace`",
    MF424 Error "A Secret's `data` value for the referenced key is not valid base64",
    MF430 Error "`meshfed plugin install` cannot place the binary",
    MF440 Error "Another meshfed run holds the output folder",
    MF441 Error "`generate` was interrupted",
    MF442 Error "`check` found a temporary file",
    MF443 Error "`check --require-tracked` found a generated file that git does not track",
    MF450 Error "`-o` names a file, not a folder",
    MF451 Error "The output cannot be written to stdout",
    MF452 Error "`check -o -` names stdout, which holds no earlier output",
    MF460 Error "`meshfed explain` was given something that is not a diagnostic code",
    MF461 Error "A MeshFederation spec was given where the kustomize plugin form expects a MeshFederationMember file",
    MF501 Error "The SPIFFE bundle is not a JWK Set",
    MF502 Error "The SPIFFE bundle holds no usable X.509 root",
    MF503 Error "A file given to `meshfed inspect` cannot be read",
    MF601 Error "A Deckhouse document cannot be read",
    MF602 Error "A Deckhouse document is not the JSON Deckhouse publishes",
    MF603 Error "`--name` is not a DNS-1123 label",
    MF604 Error "An ingress gateway's address or port is unusable",
    MF605 Error "The cluster publishes services but no ingress gateway",
    MF606 Error "The gateways listen on different ports",
    MF607 Error "A published hostname is not `<service>.<namespace>.svc.<domain>`",
    MF608 Warning "`--domain` differs from the domain in the published hostnames",
    MF609 Error "The cluster domain cannot be derived",
    MF610 Error "A published service has no port, or a port that is not a DNS-1123 name with a number from 1 to 65535",
    MF611 Error "`--public` and `--private` are swapped",
    MF612 Warning "The imported cluster uses `cluster.local`",
    MF613 Error "`--root-out` exists and holds something else",
}

#[cfg(test)]
mod tests {
    use super::super::Diagnostic;
    use super::{Code, Severity};
    use std::path::Path;

    const DOC: &str = include_str!("../../docs/diagnostics.md");

    /// Each `### MFnnn` entry of the doc with the bold sentence it opens with.
    fn documented() -> Vec<(&'static str, String)> {
        DOC.split("\n### ")
            .skip(1)
            .map(|entry| {
                let (code, body) = entry.split_once('\n').expect("an entry has a body");
                let bold = body.trim_start().strip_prefix("**").and_then(|b| b.split_once("**"));
                let sentence = bold.map_or(String::new(), |(s, _)| {
                    s.split_whitespace().collect::<Vec<_>>().join(" ")
                });
                (code.trim(), sentence)
            })
            .collect()
    }

    #[test]
    fn every_code_is_documented_once_with_its_meaning_and_severity() {
        let doc = documented();
        let mut wrong = Vec::new();
        for code in Code::ALL {
            let entries: Vec<&String> = doc
                .iter()
                .filter(|(c, _)| *c == code.as_str())
                .map(|(_, s)| s)
                .collect();
            let [sentence] = entries.as_slice() else {
                wrong.push(format!("{code} has {} entries", entries.len()));
                continue;
            };
            let sentence = sentence.trim_end_matches('.');
            let (warns, said) = match sentence.strip_prefix("Warning: ") {
                Some(rest) => (true, rest),
                None => (false, sentence),
            };
            let meaning = code.meaning();
            let same = said.len() == meaning.len()
                && said[..1].eq_ignore_ascii_case(&meaning[..1])
                && said[1..] == meaning[1..];
            if !same || warns != (code.severity() == Severity::Warning) {
                wrong.push(format!(
                    "{code}: the doc says {sentence:?}, codes.rs {:?} {meaning:?}",
                    code.severity()
                ));
            }
        }
        for (code, _) in &doc {
            if !Code::ALL.iter().any(|c| c.as_str() == *code) {
                wrong.push(format!("{code} is documented but not declared"));
            }
        }
        assert!(
            wrong.is_empty(),
            "docs/diagnostics.md and codes.rs disagree:\n{}",
            wrong.join("\n")
        );
    }

    /// The non-test text of every source file but this one.
    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("src/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("diagnostics/codes.rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                let code = text
                    .split("#[cfg(test)]\nmod tests")
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                out.push((path.display().to_string(), code));
            }
        }
    }

    #[test]
    fn every_code_is_used_and_none_is_written_as_a_string() {
        let mut files = Vec::new();
        sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        let mut wrong = Vec::new();
        for code in Code::ALL {
            let name = format!("Code::{code}");
            if !files.iter().any(|(_, text)| text.contains(&name)) {
                wrong.push(format!("{code} is declared but nothing in src/ produces it"));
            }
        }
        for (file, text) in &files {
            for (i, _) in text.match_indices("\"MF") {
                let literal = &text[i + 1..];
                if literal.len() > 5 && literal.as_bytes()[2..5].iter().all(u8::is_ascii_digit) {
                    wrong.push(format!("{file}: the literal \"{}\" should be Code::{0}", &literal[..5]));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_printed_line_points_to_explain() {
        let d = super::super::Diagnostic::new(Code::MF208, "spec", "expired");
        assert_eq!(d.severity, Severity::Error);
        assert!(d.to_string().starts_with("error[MF208] spec: expired"));
        assert!(d.to_string().ends_with(" (meshfed explain MF208)"));
        assert_eq!(Diagnostic::new(Code::MF210, "", "").severity, Severity::Warning);
    }
}
