//! One function a subcommand: each runs its command and returns an
//! `Outcome`; none prints (`super::finish` does) except the remarks made
//! while a run waits (`report::note`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::args::{build_options, CheckArgs, Cli, Command, GraphFormatArg, ImportCommand, PluginAction};
use super::explain::explain;
use super::{report, Outcome};
use crate::deckhouse;
use crate::diagnostics::{Checked, Code, Diagnostic, Diagnostics};
use crate::drift;
use crate::graph::{self as fedgraph, GraphFormat};
use crate::krm;
use crate::load::{SpecSource, SCHEMA};
use crate::output;
use crate::pipeline::{self, RenderOptions};
use crate::plugin;

/// Runs the parsed command.
pub(super) fn dispatch(command: Command) -> Outcome {
    match command {
        Command::Generate { spec, output, render } => {
            // `-o -` is stdout, as for most tools, never a folder named `-`.
            let output = output.filter(|o| o.as_os_str() != "-");
            if let Some(refused) = output.as_deref().and_then(not_a_folder) {
                return refused;
            }
            generate(&spec, output.as_deref(), &render.options())
        }
        Command::Check {
            spec,
            output,
            require_tracked,
            render,
        } => not_a_folder(&output)
            .or_else(|| stdout_for_check(&output))
            .unwrap_or_else(|| check(&spec, &output, require_tracked, &render.options())),
        Command::Validate { spec, checks, .. } => {
            let opts = RenderOptions {
                build: build_options(&checks),
                ..Default::default()
            };
            validate(&spec, &opts)
        }
        Command::Import(import) => import_deckhouse(import),
        Command::Graph { spec, format } => {
            let format = match format {
                GraphFormatArg::Mermaid => GraphFormat::Mermaid,
                GraphFormatArg::Dot => GraphFormat::Dot,
            };
            graph(&spec, format)
        }
        Command::Schema => Outcome::printed(SCHEMA),
        Command::Inspect { files, checks } => inspect(&files, &checks),
        Command::Krm => krm_function(false),
        Command::Plugin {
            action: PluginAction::Install { copy },
        } => plugin_install(copy),
        Command::Explain { code } => explain(code.as_deref()),
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
    }
}

fn inspect(files: &[PathBuf], checks: &CheckArgs) -> Outcome {
    let report = crate::inspect::inspect_files(files, &build_options(checks).certs);
    if report.has_errors {
        Outcome::Failed {
            stdout: report.text,
            diagnostics: Diagnostics::new(),
        }
    } else {
        Outcome::printed(report.text)
    }
}

fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "meshfed",
        &mut script,
    );
    Outcome::printed(String::from_utf8_lossy(&script))
}

fn man() -> Outcome {
    let mut page = Vec::new();
    match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page) {
        Ok(()) => Outcome::printed(String::from_utf8_lossy(&page)),
        Err(e) => Outcome::failed_one(Diagnostic::new(
            Code::MF451,
            "",
            format!("cannot write the manual page: {e}"),
        )),
    }
}

/// `import deckhouse`: writes the root CA file (`output`), then the entry
/// goes to stdout; on a failed write, nothing on stdout.
fn import_deckhouse(import: ImportCommand) -> Outcome {
    let ImportCommand::Deckhouse {
        name,
        public,
        private,
        root_out,
        spec_dir,
        force,
        domain,
        trust_domain,
        checks,
        ..
    } = import;
    let root_out = root_out.unwrap_or_else(|| PathBuf::from(format!("{name}.pem")));
    let req = deckhouse::ImportRequest {
        name,
        public,
        private,
        root_out,
        spec_dir: spec_dir.unwrap_or_else(|| PathBuf::from(".")),
        force,
        domain,
        trust_domain,
    };
    match deckhouse::import(&req, &build_options(&checks).certs) {
        Ok((imported, warnings)) => {
            let written = output::create_parent(&imported.root_out)
                .map_err(|d| d.hint("check that the folder of --root-out can be made"))
                .and_then(|()| output::write_atomic(&imported.root_out, imported.root_pem.as_bytes()));
            match written {
                Ok(()) => Outcome::warned(imported.entry, warnings),
                Err(d) => {
                    let mut diags = warnings;
                    diags.push(d);
                    Outcome::failed(diags)
                }
            }
        }
        Err(diags) => Outcome::failed(diags),
    }
}

/// `meshfed federation.yaml`: a MeshFederation spec where kustomize's plugin
/// form expects a MeshFederationMember file. Say which command was meant
/// (MF461, exit 2) instead of clap's "unrecognized subcommand".
pub(super) fn spec_given_as_plugin_argument(args: &[std::ffi::OsString]) -> Option<Outcome> {
    let first = args.first()?;
    let command = <Cli as clap::CommandFactory>::command();
    if first
        .to_str()
        .is_some_and(|a| a.starts_with('-') || command.find_subcommand(a).is_some())
    {
        return None;
    }
    let path = Path::new(first);
    let small_file = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= 1024 * 1024);
    let text = small_file.then(|| std::fs::read_to_string(path).ok()).flatten()?;
    let kind = crate::load::parse_yaml(&text, path)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))?;
    if kind != "MeshFederation" {
        return None;
    }
    let mut words = vec!["meshfed".to_owned(), "generate".to_owned()];
    words.extend(args.iter().map(|a| shell_word(&a.to_string_lossy())));
    Some(Outcome::usage(
        Diagnostic::new(
            Code::MF461,
            "",
            format!(
                "{} is a MeshFederation spec, not a MeshFederationMember file (the kustomize plugin form)",
                path.display()
            ),
        )
        .hint(format!("did you mean `{}`?", words.join(" ")))
        .at(path, None),
    ))
}

/// `implicit`: run because there were no arguments; then an empty stdin
/// (a script calling `meshfed` with stdin closed) gets the usage, not MF410.
pub(super) fn krm_function(implicit: bool) -> Outcome {
    let input = match crate::load::read_text(std::io::stdin().lock()) {
        Ok(input) => input,
        Err(why) => {
            return Outcome::failed_one(Diagnostic::new(
                Code::MF410,
                "",
                format!("cannot read a ResourceList from stdin: {why}"),
            ))
        }
    };
    if implicit && input.trim().is_empty() {
        return Outcome::Help;
    }
    let workdir = std::path::PathBuf::from(".");
    match krm::process(&input, &workdir, &RenderOptions::default()) {
        Ok(processed) if processed.failed => Outcome::Failed {
            stdout: processed.output,
            diagnostics: Diagnostics::new(),
        },
        Ok(processed) => Outcome::printed(processed.output),
        Err(d) => Outcome::failed_one(d),
    }
}

pub(super) fn kustomize_plugin(file: &Path) -> Outcome {
    match plugin::render_member(file, &plugin::config_root(), &RenderOptions::default()) {
        Ok((rendered, warnings)) => Outcome::warned(pipeline::stream(&rendered), warnings),
        Err(diags) => Outcome::failed(diags),
    }
}

fn plugin_install(copy: bool) -> Outcome {
    let Some(home) = plugin::config_home() else {
        return Outcome::failed_one(
            Diagnostic::new(Code::MF430, "", "neither XDG_CONFIG_HOME nor HOME is set")
                .hint("set XDG_CONFIG_HOME (or HOME)"),
        );
    };
    match plugin::install(&home, copy) {
        Ok(path) => Outcome::printed(format!("{}\n", path.display())),
        Err(d) => Outcome::failed_one(d),
    }
}

/// The spec: the file, or stdin for `-`. From stdin, relative paths in it
/// resolve from the working directory, and diagnostics name it `<stdin>`.
fn read_spec(spec: &Path) -> Result<SpecSource, Diagnostic> {
    if spec.as_os_str() != "-" {
        return SpecSource::read(spec);
    }
    let unreadable = |why: String| {
        Diagnostic::new(Code::MF001, "", format!("cannot read the spec from stdin: {why}"))
            .hint("pipe the MeshFederation spec into `meshfed … -`, as UTF-8 text")
            .at("<stdin>", None)
    };
    // The same bound as every other input (`load::read_text`).
    let text = crate::load::read_text(std::io::stdin().lock()).map_err(unreadable)?;
    Ok(SpecSource {
        file: PathBuf::from("<stdin>"),
        base_dir: PathBuf::new(),
        text,
    })
}

fn render_spec(spec: &Path, opts: &RenderOptions) -> Checked<pipeline::Rendered> {
    let src = read_spec(spec).map_err(Diagnostics::from)?;
    pipeline::render_source(&src, opts)
}

fn generate(spec: &Path, out: Option<&Path>, opts: &RenderOptions) -> Outcome {
    if let Some(dir) = out {
        let src = match read_spec(spec) {
            Ok(src) => src,
            Err(d) => return Outcome::failed_one(d),
        };
        return match output::generate_tree(&src, dir, opts, &report::note) {
            Ok(((), warnings)) => Outcome::warned(String::new(), warnings),
            Err(diags) => Outcome::failed(diags),
        };
    }
    let (rendered, warnings) = match render_spec(spec, opts) {
        Ok(r) => r,
        Err(diags) => return Outcome::failed(diags),
    };
    let note =
        (opts.clusters.is_empty() && rendered.clusters.len() > 1 && !std::io::stdout().is_terminal()).then(|| {
            let names: Vec<&str> = rendered.clusters.keys().map(String::as_str).collect();
            format!(
                "stdout holds the objects of {} clusters ({}), some under the same names in each; \
             apply one cluster's with --cluster NAME, or write a folder per cluster with -o DIR",
                names.len(),
                names.join(", ")
            )
        });
    Outcome::Ok {
        stdout: pipeline::stream(&rendered),
        summary: None,
        diagnostics: warnings,
        note,
    }
}

fn check(spec: &Path, dir: &Path, require_tracked: bool, opts: &RenderOptions) -> Outcome {
    let (rendered, mut diagnostics) = match render_spec(spec, opts) {
        Ok(r) => r,
        Err(diags) => return Outcome::failed(diags),
    };
    match drift::compare(
        dir,
        &rendered,
        !opts.clusters.is_empty(),
        require_tracked,
        &report::note,
    ) {
        Ok(drift) if drift.is_clean() => Outcome::warned(String::new(), diagnostics),
        Ok(drift) => {
            // Untracked files alone (MF443) are not fixed by generating again.
            let regenerate = !drift.diff.is_empty() || drift.problems.iter().any(|d| d.code != Code::MF443);
            diagnostics.extend(drift.problems);
            let summary = regenerate.then(|| {
                format!(
                    "{} is out of date with {}; run `{}`",
                    dir.display(),
                    spec.display(),
                    regenerate_command(spec, dir, opts)
                )
            });
            Outcome::Drift {
                stdout: drift.diff,
                diagnostics,
                summary,
            }
        }
        Err(problems) => {
            diagnostics.extend(problems);
            Outcome::failed(diagnostics)
        }
    }
}

fn validate(spec: &Path, opts: &RenderOptions) -> Outcome {
    let src = match read_spec(spec) {
        Ok(s) => s,
        Err(d) => return Outcome::failed_one(d),
    };
    match pipeline::validate_source(&src, opts) {
        Ok((fed, diags)) => {
            let warnings = diags.clone().sorted().iter().filter(|d| !d.is_error()).count();
            let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            let summary = format!(
                "{}: {}, {}, 0 errors, {}\n",
                src.file.display(),
                plural(fed.clusters.len(), "cluster"),
                plural(fed.exports, "export"),
                plural(warnings, "warning")
            );
            Outcome::summarised(summary, diags)
        }
        Err(diags) => Outcome::failed(diags),
    }
}

fn graph(spec: &Path, format: GraphFormat) -> Outcome {
    let src = match read_spec(spec) {
        Ok(s) => s,
        Err(d) => return Outcome::failed_one(d),
    };
    match pipeline::validate_for_graph(&src, &RenderOptions::default()) {
        Ok((fed, diags)) => Outcome::warned(fedgraph::render(&fed, format), diags),
        Err(diags) => Outcome::failed(diags),
    }
}

/// `check -o -`: stdout holds nothing to compare with, and a folder named
/// `-` is never what was meant (MF452, exit 2).
fn stdout_for_check(dir: &Path) -> Option<Outcome> {
    (dir.as_os_str() == "-").then(|| {
        Outcome::usage(
            Diagnostic::new(Code::MF452, "", "check -o -: stdout holds no earlier output to compare with")
                .hint("give check the folder `generate -o DIR` wrote; to see what would be generated, run `meshfed generate SPEC`"),
        )
    })
}

/// `-o PATH` where PATH is a file: say so (MF450, exit 2) instead of failing
/// on the manifest inside it.
fn not_a_folder(dir: &Path) -> Option<Outcome> {
    if !dir.exists() || dir.is_dir() {
        return None;
    }
    Some(Outcome::usage(
        Diagnostic::new(
            Code::MF450,
            "",
            format!("-o {}: the path is a file, not a folder", dir.display()),
        )
        .hint("give -o the output folder (generate creates it when missing; `generate -o -` streams to stdout)")
        .at(dir, None),
    ))
}

/// The `generate` command that brings DIR up to date, with the options
/// `check` was given that change what is written.
fn regenerate_command(spec: &Path, dir: &Path, opts: &RenderOptions) -> String {
    let mut words = vec![
        "meshfed".to_owned(),
        "generate".to_owned(),
        shell_word(&spec.to_string_lossy()),
        "-o".to_owned(),
        shell_word(&dir.to_string_lossy()),
    ];
    for cluster in &opts.clusters {
        words.extend(["--cluster".to_owned(), shell_word(cluster)]);
    }
    if let Some(templates) = &opts.templates {
        words.extend(["--templates".to_owned(), shell_word(&templates.to_string_lossy())]);
    }
    words.join(" ")
}

/// `word` as a POSIX shell reads it back: as is when it holds only safe
/// characters, else in single quotes.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
