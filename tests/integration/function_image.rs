//! The binary of the `FROM scratch` function image (`Dockerfile`), built by
//! `scripts/build-static.sh`: it must need nothing the image lacks. There
//! is no container engine here, so the test does what the engine would: it
//! `chroot`s into a folder holding only the binary and runs it as a KRM
//! function, the way `kpt fn eval --image` runs the image's entrypoint.
//!
//! `scripts/test.sh` builds the binary and names it in `MESHFED_STATIC_BIN`;
//! without it (or without root, which `chroot` needs) the test is skipped
//! with a message, and fails in CI.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The image's size budget.
const MAX_BYTES: u64 = 20 * 1024 * 1024;

fn static_binary() -> Option<PathBuf> {
    let skip = |why: &str| {
        assert!(
            std::env::var_os("CI").is_none(),
            "{why}; in CI it must be (run the tests through `bash scripts/test.sh`)"
        );
        eprintln!("SKIPPED: {why}; run `bash scripts/test.sh` as root to test the function image's binary");
        None
    };
    let Some(path) = std::env::var_os("MESHFED_STATIC_BIN") else {
        return skip("MESHFED_STATIC_BIN is not set");
    };
    // Only root may chroot.
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return skip("not root, so no chroot");
    }
    Some(PathBuf::from(path))
}

/// Whether the ELF file has a program interpreter (a dynamic loader).
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == PT_INTERP
    })
}

fn resource_list() -> String {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/certs");
    let pem = |name: &str| {
        let text = std::fs::read_to_string(certs.join(name)).unwrap();
        text.lines().map(|l| format!("          {l}\n")).collect::<String>()
    };
    format!(
        "apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: untouched, annotations: {{note: \"kept\"}}}}
  data: {{flag: \"yes\"}}
functionConfig:
  apiVersion: meshfed.io/v1alpha1
  kind: MeshFederation
  metadata: {{name: image}}
  spec:
    clusters:
    - name: east
      domain: east.example
      rootCA:
        pem: |
{east}      gateway: {{addresses: [192.0.2.1]}}
      exports: [{{service: web, namespace: shop, ports: [{{name: http, port: 8080}}]}}]
    - name: west
      domain: west.example
      rootCA:
        pem: |
{west}",
        east = pem("east.example.pem"),
        west = pem("west.example.pem"),
    )
}

#[test]
fn the_static_binary_runs_as_a_function_in_an_empty_root() {
    let Some(bin) = static_binary() else { return };
    let bytes = std::fs::read(&bin).unwrap();
    assert!(
        (bytes.len() as u64) <= MAX_BYTES,
        "{} is {} bytes, over the image budget of {MAX_BYTES}",
        bin.display(),
        bytes.len()
    );
    assert!(!has_interpreter(&bytes), "{} needs a dynamic loader", bin.display());

    // The image's whole file system: the binary, nothing else.
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(&bin, root.path().join("meshfed")).unwrap();
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    let mut child = Command::new("chroot")
        .arg(root.path())
        .arg("/meshfed")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(resource_list().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}\nstdout: {stdout}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_norway::Value = serde_norway::from_str(&stdout).unwrap();
    let items = list["items"].as_sequence().unwrap();
    let kinds: Vec<&str> = items.iter().filter_map(|i| i["kind"].as_str()).collect();
    for kind in ["ConfigMap", "Gateway", "ServiceEntry", "DestinationRule", "Secret"] {
        assert!(kinds.contains(&kind), "no {kind} in the answer: {kinds:?}");
    }
    assert_eq!(items[0]["data"]["flag"].as_str(), Some("yes"), "{stdout}");
}
