//! A PEM source (or a DER file given where PEM belongs): its blocks, each
//! decoded certificate handed to `policy`; keys, truncation, binary files
//! and base64-wrapped PEM each told apart.

use data_encoding::BASE64;

use super::policy::{take_certificate, Place};
use super::{CertPolicy, FoundCert, Intake, SourceRef};
use crate::diagnostics::{Code, Diagnostic};

/// One `-----BEGIN X-----` … `-----END X-----` block.
struct PemBlock<'a> {
    number: usize,
    label: &'a str,
    body: String,
    /// 1-based line of the BEGIN line.
    line: usize,
    /// `false` when no matching END line followed.
    complete: bool,
}

/// Every block of a text, complete or not, plus END lines that had no BEGIN
/// (a file whose start was cut off).
struct Scan<'a> {
    blocks: Vec<PemBlock<'a>>,
    /// Line and label of each END line without a BEGIN line.
    stray_ends: Vec<(usize, &'a str)>,
}

fn scan_pem(text: &str) -> Scan<'_> {
    let mut scan = Scan {
        blocks: Vec::new(),
        stray_ends: Vec::new(),
    };
    let mut open: Option<PemBlock<'_>> = None;
    // `lines()` drops a trailing `\r` too, so CRLF files read the same.
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
            if let Some(b) = open.take() {
                scan.blocks.push(b);
            }
            open = Some(PemBlock {
                number: scan.blocks.len() + 1,
                label,
                body: String::new(),
                line: i + 1,
                complete: false,
            });
        } else if let Some(label) = line.strip_prefix("-----END ").and_then(|l| l.strip_suffix("-----")) {
            match open.take() {
                Some(mut b) => {
                    b.complete = b.label == label;
                    scan.blocks.push(b);
                }
                None => scan.stray_ends.push((i + 1, label)),
            }
        } else if let Some(b) = open.as_mut() {
            // RFC 1421 headers (Proc-Type, DEK-Info) of legacy encrypted keys
            // come before the data; anything after the data starts is data.
            let header = b.body.is_empty() && line.contains(':');
            if !header {
                b.body.push_str(line);
            }
        }
    }
    if let Some(b) = open {
        scan.blocks.push(b);
    }
    scan
}

fn is_private_key_label(label: &str) -> bool {
    label.contains("PRIVATE KEY")
}

/// A block's label as shown in a message: labels are structure, not content,
/// but an odd one is not repeated.
fn shown_label(label: &str) -> &str {
    let plain = label.len() <= 40
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit());
    if plain {
        label
    } else {
        "unrecognised"
    }
}

/// The total length (header + content) that a DER value starting at
/// `bytes[0]` claims, if its length field is well formed.
pub(super) fn der_claimed_len(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 || bytes.len() < 2 + n {
        return None;
    }
    let len = bytes[2..2 + n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some(2 + n + len)
}

/// What a file that is not PEM text looks like.
enum Binary {
    /// An ASN.1 SEQUENCE that fills the file: DER. `certificate`: it parses as X.509.
    Der {
        certificate: bool,
        truncated: bool,
    },
    Other,
}

fn classify_binary(bytes: &[u8]) -> Option<Binary> {
    let text_like = std::str::from_utf8(bytes)
        .map(|t| {
            !t.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
        })
        .unwrap_or(false);
    // A DER SEQUENCE of a certificate always uses the long length form, so
    // its second byte is 0x81..=0x84; text starting with '0' (also 0x30) does not match.
    if bytes.first() == Some(&0x30) && matches!(bytes.get(1), Some(0x81..=0x84)) {
        if let Some(claimed) = der_claimed_len(bytes) {
            // Trailing whitespace after the DER is tolerated. The DER itself may
            // end in a whitespace byte (a signature is random), so compare the
            // tail, not a trimmed length.
            let tail_is_blank = bytes
                .get(claimed..)
                .is_some_and(|rest| rest.iter().all(u8::is_ascii_whitespace));
            if tail_is_blank {
                let certificate = x509_parser::parse_x509_certificate(&bytes[..claimed]).is_ok();
                return Some(Binary::Der {
                    certificate,
                    truncated: false,
                });
            }
            if claimed > bytes.len() && !text_like {
                return Some(Binary::Der {
                    certificate: false,
                    truncated: true,
                });
            }
        }
    }
    (!text_like).then_some(Binary::Other)
}

/// Whether a text is one base64 value (line breaks allowed) that decodes to
/// PEM: what `kubectl get secret -o jsonpath='{.data.ca\.crt}'` prints
/// without `| base64 -d`.
fn is_base64_of_pem(text: &str) -> bool {
    let joined: String = text.split_ascii_whitespace().collect();
    if joined.len() < 16 {
        return false;
    }
    let decoded = data_encoding::BASE64
        .decode(joined.as_bytes())
        .or_else(|_| data_encoding::BASE64_NOPAD.decode(joined.trim_end_matches('=').as_bytes()));
    decoded.is_ok_and(|d| {
        let d = d.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&d);
        let start = d.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(d.len());
        d[start..].starts_with(b"-----BEGIN ")
    })
}

/// Reads every root certificate from one source.
pub fn intake(bytes: &[u8], src: &SourceRef<'_>, policy: &CertPolicy) -> Intake {
    let mut out = Intake::default();
    let what = what(src);
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        out.diagnostics.push(src.error(
            Code::MF216,
            format!("{what} is empty"),
            "export the cluster's root certificate (e.g. istio-ca-root-cert's root-cert.pem) into it",
            None,
        ));
        return out;
    }
    if let Some(binary) = classify_binary(bytes) {
        binary_source(&mut out, bytes, binary, src);
        return out;
    }
    // classify_binary returned None: the bytes are UTF-8 text. Old Mac line
    // ends (a lone CR) become LF; `lines()` handles CRLF itself.
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n").replace('\r', "\n");
    let scan = scan_pem(&text);
    let refused = refused_text(&scan, &text, src);
    if !refused.is_empty() {
        out.diagnostics = refused;
        return out;
    }
    let lead = lead(src);
    for (line, _) in &scan.stray_ends {
        out.diagnostics.push(src.error(
            Code::MF218,
            format!("{lead}this END line has no BEGIN line"),
            "part of the file is missing; export it again",
            Some(*line),
        ));
    }
    for block in &scan.blocks {
        read_block(&mut out, block, src, policy);
    }
    out
}

/// How messages start: with a file, the location names it; inline PEM says what it is.
fn lead(src: &SourceRef<'_>) -> String {
    if src.file.is_some() {
        String::new()
    } else {
        format!("{}: ", src.origin)
    }
}

/// The source as a message's subject: `the file`, or e.g. `inline PEM`.
fn what<'a>(src: &SourceRef<'a>) -> &'a str {
    if src.file.is_some() {
        "the file"
    } else {
        src.origin
    }
}

/// A binary file given where PEM belongs: a DER certificate (which
/// `inspect` can still describe) or something else.
fn binary_source(out: &mut Intake, bytes: &[u8], binary: Binary, src: &SourceRef<'_>) {
    let what = what(src);
    let Binary::Der { certificate, truncated } = binary else {
        out.diagnostics.push(src.error(
            Code::MF219,
            format!("{what} is a binary file, not PEM"),
            "point rootCA at the PEM file of the cluster's root certificate",
            None,
        ));
        return;
    };
    let (msg, hint) = match (certificate, truncated) {
        (true, _) => (
            format!("{what} is a DER (binary) certificate, not PEM"),
            "convert it: openssl x509 -inform der -in FILE -out FILE.pem",
        ),
        (false, true) => (
            format!("{what} is DER (binary ASN.1) and cut short, not PEM"),
            "export the root certificate again, as PEM",
        ),
        (false, false) => (
            format!("{what} is DER (binary ASN.1) but not a certificate, not PEM"),
            "it may be a key or a PKCS#12 bundle; export only the root certificate, as PEM",
        ),
    };
    if certificate {
        let der = bytes[..der_claimed_len(bytes).unwrap_or(bytes.len())].to_vec();
        out.found.push(FoundCert {
            block: 1,
            line: None,
            der,
        });
    }
    out.diagnostics.push(src.error(Code::MF202, msg, hint, None));
}

/// Why nothing of a text source is used: a private key anywhere in it
/// (even cut short), or no PEM block at all. Empty when its blocks are read.
fn refused_text(scan: &Scan<'_>, text: &str, src: &SourceRef<'_>) -> Vec<Diagnostic> {
    const KEY_HINT: &str =
        "never export the CA key: keep only the root's CERTIFICATE blocks, and rotate the key if it was shared";
    let (lead, what) = (lead(src), what(src));
    let stray_key = scan.stray_ends.iter().find(|(_, label)| is_private_key_label(label));
    if let Some((line, label)) = stray_key {
        // The BEGIN line is cut off, but what remains is still key material.
        let msg = format!(
            "{lead}the rest of a private key ({}) ends here; nothing from this source is used",
            shown_label(label)
        );
        return vec![src.error(Code::MF203, msg, KEY_HINT, Some(*line))];
    }
    if scan.blocks.is_empty() {
        let (code, msg, hint) = match scan.stray_ends.first() {
            Some(_) => (
                Code::MF218,
                format!("{lead}an END line has no BEGIN line: the start of the file is cut off"),
                "the file is truncated; export it again",
            ),
            None if is_base64_of_pem(text) => (
                Code::MF216,
                format!("{what} holds no PEM block: it is PEM encoded in base64 once more"),
                "decode it once: a Secret's data values are base64, so `kubectl get secret ... -o jsonpath=...` needs `| base64 -d`",
            ),
            None => (
                Code::MF216,
                format!("{what} holds no PEM block"),
                "it should contain -----BEGIN CERTIFICATE----- blocks",
            ),
        };
        let line = scan.stray_ends.first().map(|(line, _)| *line);
        return vec![src.error(code, msg, hint, line)];
    }
    // A key anywhere poisons the whole source: nothing from it is used.
    let keys = scan.blocks.iter().filter(|b| is_private_key_label(b.label));
    keys.map(|b| {
        let msg = format!(
            "{lead}block {} is a private key ({}); nothing from this source is used",
            b.number,
            shown_label(b.label)
        );
        src.error(Code::MF203, msg, KEY_HINT, Some(b.line))
    })
    .collect()
}

/// One PEM block: a complete, non-empty CERTIFICATE block whose base64
/// decodes goes on to `take_certificate`.
fn read_block(out: &mut Intake, block: &PemBlock<'_>, src: &SourceRef<'_>, policy: &CertPolicy) {
    let lead = lead(src);
    let n = block.number;
    let error = |code: Code, msg: String, hint: &str| src.error(code, msg, hint, Some(block.line));
    let problem = if !block.complete {
        Some(error(
            Code::MF218,
            format!(
                "{lead}block {n} ({}) has no matching END line",
                shown_label(block.label)
            ),
            "the file is truncated; export it again",
        ))
    } else if block.label != "CERTIFICATE" {
        Some(error(
            Code::MF204,
            format!("{lead}block {n} is a {}, not a CERTIFICATE", shown_label(block.label)),
            "keep only the root's CERTIFICATE block(s)",
        ))
    } else if block.body.is_empty() {
        Some(error(
            Code::MF218,
            format!("{lead}block {n} is empty"),
            "the file is truncated; export it again",
        ))
    } else {
        None
    };
    if let Some(d) = problem {
        out.diagnostics.push(d);
        return;
    }
    let Ok(der) = BASE64.decode(block.body.as_bytes()) else {
        out.diagnostics.push(error(
            Code::MF217,
            format!("{lead}block {n} is not valid base64"),
            "the PEM was damaged (edited or cut); export it again",
        ));
        return;
    };
    let label = format!("{lead}block {n}");
    let place = Place {
        label: &label,
        number: n,
        line: Some(block.line),
    };
    take_certificate(out, der, &place, src, policy);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::certs::fixture::{codes, fixture, messages, policy, run};
    use crate::certs::pki::base64_lines;
    use crate::naming::hex;

    #[test]
    fn a_good_root_is_taken_in_canonical_form() {
        let f = fixture();
        let got = run(f.root.cert_pem.as_bytes());
        assert!(got.diagnostics.is_empty(), "{}", messages(&got));
        assert_eq!(got.roots.len(), 1);
        assert_eq!(got.roots[0].pem, f.root.cert_pem, "openssl writes canonical PEM too");
        assert_eq!(got.roots[0].sha256, hex(&Sha256::digest(f.pki.der(&f.root))));
    }

    #[test]
    fn crlf_text_around_blocks_and_a_bom_are_accepted() {
        let f = fixture();
        let crlf = f.root.cert_pem.replace('\n', "\r\n");
        let text = f.pki.text(&f.root);
        assert!(text.starts_with("Certificate:"));
        let bom = format!("\u{feff}{}", f.root.cert_pem);
        let cr = f.root.cert_pem.replace('\n', "\r");
        for input in [crlf.as_str(), text.as_str(), bom.as_str(), cr.as_str()] {
            let got = run(input.as_bytes());
            assert!(got.diagnostics.is_empty(), "{}", messages(&got));
            assert_eq!(got.roots[0].pem, f.root.cert_pem);
        }
    }

    #[test]
    fn a_private_key_poisons_the_source_and_is_never_echoed() {
        let f = fixture();
        let forms = [
            f.root.key_pem.clone(),
            f.pki.key_as(&f.rsa2048, "traditional"),
            f.pki.key_as(&f.root, "traditional"),
            f.pki.key_as(&f.root, "encrypted"),
        ];
        for key in &forms {
            let input = format!("{}{key}", f.root.cert_pem);
            let got = run(input.as_bytes());
            assert_eq!(codes(&got), [Code::MF203], "{}", messages(&got));
            assert!(got.roots.is_empty() && got.found.is_empty());
            let text = messages(&got);
            assert!(text.contains("block 2") && text.contains("certs/a.pem:"), "{text}");
            for line in base64_lines(key) {
                assert!(!text.contains(&line), "key material echoed: {text}");
            }
        }
        // A truncated key is still a key, whichever end is missing.
        let cut: String = f.root.key_pem.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert_eq!(codes(&run(cut.as_bytes())), [Code::MF203]);
        let headless: String = f.root.key_pem.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let got = run(format!("{}{headless}", f.root.cert_pem).as_bytes());
        assert_eq!(codes(&got), [Code::MF203]);
        assert!(got.roots.is_empty());
    }

    #[test]
    fn der_is_named_and_text_starting_with_zero_is_not_der() {
        let f = fixture();
        let der = f.pki.der(&f.root);
        let got = run(&der);
        assert_eq!(codes(&got), [Code::MF202]);
        assert!(messages(&got).contains("DER (binary) certificate"));
        assert_eq!(got.found.len(), 1, "inspect can still describe it");
        assert!(got.roots.is_empty());
        let mut with_newline = der.clone();
        with_newline.push(b'\n');
        assert_eq!(codes(&run(&with_newline)), [Code::MF202]);
        assert_eq!(codes(&run(&der[..der.len() / 2])), [Code::MF202]);
        assert!(messages(&run(&der[..der.len() / 2])).contains("cut short"));
        // 0x30 is also the digit '0': such text is not DER.
        assert_eq!(codes(&run(b"0000 no certificate here\n")), [Code::MF216]);
        // DER whose last byte is itself whitespace (0x20), then a newline.
        let seq = [0x30, 0x81, 0x03, 0x01, 0x02, 0x20, b'\n'];
        let got = run(&seq);
        assert_eq!(codes(&got), [Code::MF202], "{}", messages(&got));
        assert!(messages(&got).contains("not a certificate"));
    }

    #[test]
    fn empty_binary_and_plain_text_each_have_their_own_code() {
        assert_eq!(codes(&run(b"")), [Code::MF216]);
        assert_eq!(codes(&run(b" \n\r\n")), [Code::MF216]);
        assert_eq!(codes(&run(b"just some notes\n")), [Code::MF216]);
        assert_eq!(codes(&run(&[0u8; 64])), [Code::MF219]);
        assert_eq!(codes(&run(&[0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe])), [Code::MF219]);
    }

    #[test]
    fn truncated_and_corrupt_blocks_are_told_apart() {
        let f = fixture();
        let pem = &f.root.cert_pem;
        let lines: Vec<&str> = pem.lines().collect();
        let no_end: String = lines[..lines.len() - 1].iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(codes(&run(no_end.as_bytes())), [Code::MF218]);
        let no_begin: String = lines[1..].iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(codes(&run(no_begin.as_bytes())), [Code::MF218]);
        // Whole base64 lines missing: the base64 is fine, the DER is short.
        let mut cut = lines.clone();
        cut.remove(2);
        let cut: String = cut.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(
            codes(&run(cut.as_bytes())),
            [Code::MF218],
            "{}",
            messages(&run(cut.as_bytes()))
        );
        let empty = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
        assert_eq!(codes(&run(empty.as_bytes())), [Code::MF218]);
        let corrupt = pem.replacen("MI", "M!", 1);
        assert_eq!(codes(&run(corrupt.as_bytes())), [Code::MF217]);
        let not_x509 = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            BASE64.encode(b"hello, this is not a certificate")
        );
        assert_eq!(codes(&run(not_x509.as_bytes())), [Code::MF205]);
        // Problems in one block do not hide the others.
        let both = format!("{corrupt}{not_x509}{pem}");
        let got = run(both.as_bytes());
        assert_eq!(codes(&got), [Code::MF217, Code::MF205]);
        assert_eq!(got.roots.len(), 1);
    }

    #[test]
    fn only_certificate_blocks_are_accepted() {
        let f = fixture();
        let got = run(f.pki.request(&f.root).as_bytes());
        assert_eq!(codes(&got), [Code::MF204]);
        assert!(messages(&got).contains("CERTIFICATE REQUEST"));
        assert_eq!(codes(&run(f.pki.key_as(&f.root, "public").as_bytes())), [Code::MF204]);
    }

    #[test]
    fn rotation_keeps_both_roots() {
        let f = fixture();
        let both = format!("{}{}", f.root.cert_pem, f.rsa2048.cert_pem);
        let got = run(both.as_bytes());
        assert!(got.diagnostics.is_empty());
        assert_eq!(got.roots.len(), 2);
    }

    #[test]
    fn inline_pem_names_itself_in_the_message() {
        let f = fixture();
        let src = SourceRef {
            path: "spec.clusters[0].rootCA.pem",
            origin: "inline PEM",
            file: None,
            trust_domain: None,
            inline_at: None,
        };
        let got = intake(f.leaf.cert_pem.as_bytes(), &src, &policy());
        assert!(messages(&got).contains("inline PEM: block 1"), "{}", messages(&got));
    }

    #[test]
    fn istio_sample_roots_are_accepted() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/istio/samples-certs");
        let bytes = std::fs::read(dir.join("root-cert-combined.pem")).expect("Istio's sample roots in testdata/istio");
        let got = run(&bytes);
        assert_eq!(got.roots.len(), 2, "{}", messages(&got));
        assert!(got.diagnostics.iter().all(|d| !d.is_error()), "{}", messages(&got));
    }
}
