//! `omnirule`: the command marketers and developers use to check, format, test, build, run and
//! draw rule sets.
//!
//! Exit codes: 0 success; 1 the rule set has errors, is unformatted, or a test failed;
//! 2 bad input (a missing file, malformed JSON, an event that does not match the schema, a
//! corrupted bundle). Every error names the file (and line) it is about; nothing panics.
//! `-` is standard input where a file is read, standard output where one is written.

mod inspect;
mod tests_out;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use omnirule_dsl::render::{self, Style};
use omnirule_dsl::{Compiled, RuleSet, format, parser};
use omnirule_engine::bundle::Bundle;
use omnirule_engine::bundle::signature::{SecretKey, TrustedKeys};
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the rule set has errors, is not formatted, or a test failed
  2  bad input: a missing file, malformed JSON, an event off the schema, a corrupted bundle

`-` reads standard input where a file is read (rules, a bundle, logs) and writes standard
output where one is written (`build -o -`, `fmt -`).";

#[derive(Parser)]
#[command(
    name = "omnirule",
    version,
    about = "Rules for online-to-offline marketing: check, format, test, build, run and draw rule sets.",
    after_help = AFTER_HELP
)]
struct Cli {
    /// When to colour diagnostics: `auto` (standard error is a terminal and `NO_COLOR` is
    /// unset), `always` or `never`.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Color {
    Auto,
    Always,
    Never,
}

static COLOR: std::sync::OnceLock<Color> = std::sync::OnceLock::new();

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum TestFormat {
    Human,
    Json,
    Junit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ReportFormat {
    Table,
    Json,
    Html,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutputFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check a rule set (a `.rules` file or a folder of them) and report every problem.
    Check {
        path: PathBuf,
        /// `human` (rustc-style, coloured on a terminal) or `json` (for editors and CI).
        #[arg(long, value_enum, default_value = "human")]
        format: OutputFormat,
    },
    /// Format `.rules` files in the canonical layout (in place; `-`: standard input to
    /// standard output, for an editor's format-on-save).
    Fmt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Change nothing; list the files that are not formatted and exit 1 if any.
        #[arg(long)]
        check: bool,
        /// Change nothing; print what formatting would change as a unified diff, and exit 1
        /// if anything would.
        #[arg(long, conflicts_with = "check")]
        diff: bool,
    },
    /// Run the `test` blocks of one or more rule sets.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// `human`, `json` (one document) or `junit` (XML, for CI test reports).
        #[arg(long, value_enum, default_value = "human")]
        format: TestFormat,
        /// Run only the tests whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Show what a bundle holds: format, hash, signer, schema, what memory keeps, rules, goals.
    Inspect {
        /// A bundle (binary or JSON), or `-` for standard input.
        bundle: PathBuf,
        /// `human` or `json`.
        #[arg(long, value_enum, default_value = "human")]
        format: OutputFormat,
    },
    /// Print a shell completion script: `omnirule completions bash > /etc/bash_completion.d/omnirule`.
    Completions { shell: clap_complete::Shell },
    /// Compile a rule set into a bundle.
    Build {
        path: PathBuf,
        /// Where to write the bundle.
        #[arg(short, long)]
        output: PathBuf,
        /// Write the bundle's JSON form instead of the binary one.
        #[arg(long)]
        json: bool,
        /// Sign the bundle with this secret key file (from `omnirule keygen`): hosts that
        /// trust only signed bundles load it when they trust the key.
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
    },
    /// Make a key pair for signing bundles: KEY (secret, readable by you only) and KEY.pub.
    Keygen {
        /// Where to write the secret key; the public key goes to the same path plus `.pub`.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Check a bundle's signature against trusted public keys (`ed25519:...`).
    Verify {
        bundle: PathBuf,
        /// A trusted public key, or a file of them (one per line); may be repeated.
        #[arg(long = "trusted-key", value_name = "KEY", required = true)]
        trusted: Vec<String>,
    },
    /// Evaluate events for one customer, printing one JSON line of decisions per event.
    Run {
        /// A bundle (binary or JSON) or a rule set (a `.rules` file or folder).
        bundle: PathBuf,
        /// The customer's profile (JSON object).
        #[arg(long)]
        profile: PathBuf,
        /// The events, one JSON object per line. Events without an `id` are numbered.
        #[arg(long)]
        events: PathBuf,
        /// The customer's memory to start from (JSON, as written by --write-memory).
        #[arg(long)]
        memory: Option<PathBuf>,
        /// Also print why each triggered rule fired or not.
        #[arg(long)]
        explain: bool,
        /// Write the final memory here (JSON).
        #[arg(long)]
        write_memory: Option<PathBuf>,
        /// Append an exposure line per decision to this file (JSON lines, the format
        /// `omnirule report` reads; docs/report.md).
        #[arg(long)]
        log: Option<PathBuf>,
        /// The channel the exposures are logged under (`web`, `store`, …).
        #[arg(long, default_value = "cli", requires = "log")]
        channel: String,
        /// The host the exposures are logged under.
        #[arg(long, requires = "log")]
        host: Option<String>,
    },
    /// Merge memories of one customer (say, the web's and the store's) and prune the result
    /// by the bundle's retention: the O2O loop. Order does not matter.
    Merge {
        /// A bundle (binary or JSON) or a rule set.
        bundle: PathBuf,
        /// Memory files (JSON, as written by `run --write-memory`).
        #[arg(required = true, num_args = 1..)]
        memories: Vec<PathBuf>,
        /// Where to write the merged memory (JSON); standard output when absent.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Conversion report from exposure and conversion logs (JSON lines, docs/report.md; `-`
    /// reads standard input): per rule and variant, rates with intervals, lift against
    /// control, p-value, chance to beat control, the sample-ratio check.
    Report {
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// `table` (for a terminal), `json` or `html` (one self-contained page with charts).
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
        /// Write the report here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Confidence level of the intervals.
        #[arg(long, default_value_t = 0.95)]
        level: f64,
    },
    /// Draw the rule graph as Graphviz DOT (and SVG with --svg when `dot` is installed).
    Graph {
        path: PathBuf,
        /// Write the DOT here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Also render an SVG with Graphviz `dot`.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
}

/// How a command failed: diagnostics already printed (exit 1) or bad input (exit 2).
enum Failure {
    Findings,
    Input(String),
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = COLOR.set(cli.color);
    let result = match cli.command {
        Command::Check { path, format } => check(&path, format),
        Command::Fmt { paths, check, diff } => fmt(&paths, check, diff),
        Command::Test {
            paths,
            format,
            filter,
        } => test(&paths, format, filter.as_deref()),
        Command::Inspect { bundle, format } => inspect_bundle(&bundle, format),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "omnirule",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Build {
            path,
            output,
            json,
            sign,
        } => build(&path, &output, json, sign.as_deref()),
        Command::Keygen { output } => keygen(&output),
        Command::Verify { bundle, trusted } => verify(&bundle, &trusted),
        Command::Run {
            bundle,
            profile,
            events,
            memory,
            explain,
            write_memory,
            log,
            channel,
            host,
        } => run(
            &bundle,
            &profile,
            &events,
            memory.as_deref(),
            explain,
            write_memory.as_deref(),
            log.as_deref()
                .map(|l| (l, channel.as_str(), host.as_deref())),
        ),
        Command::Merge {
            bundle,
            memories,
            output,
        } => merge(&bundle, &memories, output.as_deref()),
        Command::Graph { path, output, svg } => graph(&path, output.as_deref(), svg.as_deref()),
        Command::Report {
            logs,
            format,
            output,
            level,
        } => report(&logs, format, output.as_deref(), level),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Findings) => ExitCode::from(1),
        Err(Failure::Input(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn style() -> Style {
    let color = match COLOR.get().copied().unwrap_or(Color::Auto) {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    Style { color }
}

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn read_stdin() -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Input(format!("standard input: {e}")))?;
    Ok(bytes)
}

/// Writes `bytes` to a file, or to standard output for `-`.
fn write_out(path: &Path, bytes: &[u8]) -> Outcome {
    if is_stdio(path) {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Failure::Input(format!("standard output: {e}")));
    }
    std::fs::write(path, bytes).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
}

fn load(path: &Path) -> Result<RuleSet, Failure> {
    if is_stdio(path) {
        let mut set = RuleSet::from_texts(Vec::<(String, String)>::new());
        set.add_bytes("<stdin>".into(), &read_stdin()?);
        return Ok(set);
    }
    RuleSet::from_path(path).map_err(|e| Failure::Input(e.to_string()))
}

/// Compile, printing diagnostics (warnings too) to stderr.
fn compile(path: &Path) -> Result<(RuleSet, Compiled), Failure> {
    let set = load(path)?;
    match set.compile() {
        Ok(c) => {
            if !c.warnings.is_empty() {
                eprint!("{}", render::render_all(&c.warnings, &set.sources, style()));
            }
            Ok((set, c))
        }
        Err(diags) => {
            eprint!("{}", render::render_all(&diags, &set.sources, style()));
            Err(Failure::Findings)
        }
    }
}

fn bundle_of(c: &Compiled) -> Result<Bundle, Failure> {
    Bundle::new(c.graph.clone()).map_err(|e| {
        Failure::Input(format!(
            "internal error: the compiled graph is invalid: {e}"
        ))
    })
}

fn check(path: &Path, format: OutputFormat) -> Outcome {
    let set = load(path)?;
    let (model, diags) = set.check();
    if format == OutputFormat::Json {
        println!("{}", render::to_json(&diags, &set.sources));
    } else {
        eprint!("{}", render::render_all(&diags, &set.sources, style()));
    }
    match model {
        Some(m) => {
            if format == OutputFormat::Human {
                println!(
                    "ok: {} rules, {} segments, {} tests in {} file{}",
                    m.rules.len(),
                    m.segments.len(),
                    m.tests.len(),
                    set.sources.len(),
                    if set.sources.len() == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
        None => Err(Failure::Findings),
    }
}

/// The `.rules` files a path names (a file, or the files inside a folder).
fn rules_files(path: &Path) -> Result<Vec<PathBuf>, Failure> {
    let meta =
        std::fs::metadata(path).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    Ok(files)
}

fn fmt(paths: &[PathBuf], check_only: bool, diff: bool) -> Outcome {
    let mut unformatted = Vec::new();
    let mut broken = false;
    for path in paths {
        let files = if is_stdio(path) {
            vec![path.clone()]
        } else {
            rules_files(path)?
        };
        for file in files {
            let (name, text) = if is_stdio(&file) {
                let bytes = read_stdin()?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| Failure::Input("standard input: not UTF-8 text".into()))?;
                ("<stdin>".to_string(), text)
            } else {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| Failure::Input(format!("{}: {e}", file.display())))?;
                (file.display().to_string(), text)
            };
            let mut sources = omnirule_dsl::source::Sources::new();
            let id = sources.add(name.clone(), text.clone());
            let formatted = match parser::parse(id, &text) {
                Err(diags) => {
                    eprint!("{}", render::render_all(&diags, &sources, style()));
                    broken = true;
                    continue;
                }
                Ok(ast) => format::format(&ast),
            };
            if diff {
                if formatted != text {
                    let patch = similar::TextDiff::from_lines(&text, &formatted)
                        .unified_diff()
                        .context_radius(3)
                        .header(&name, &name)
                        .to_string();
                    print!("{patch}");
                    unformatted.push(name);
                }
            } else if is_stdio(&file) {
                // An editor's format-on-save: the text back, formatted (also with --check,
                // which only sets the exit code).
                if check_only && formatted != text {
                    unformatted.push(name);
                } else if !check_only {
                    write_out(&file, formatted.as_bytes())?;
                }
            } else if formatted != text {
                if check_only {
                    unformatted.push(name);
                } else {
                    std::fs::write(&file, formatted)
                        .map_err(|e| Failure::Input(format!("{}: {e}", file.display())))?;
                    println!("formatted {}", file.display());
                }
            }
        }
    }
    if check_only {
        for f in &unformatted {
            println!("not formatted: {f}");
        }
    }
    if broken || !unformatted.is_empty() {
        return Err(Failure::Findings);
    }
    Ok(())
}

fn test(paths: &[PathBuf], format: TestFormat, filter: Option<&str>) -> Outcome {
    let human = format == TestFormat::Human;
    let mut cases: Vec<tests_out::Case> = Vec::new();
    let mut broken: Vec<tests_out::Broken> = Vec::new();
    let out = std::io::stdout();
    let mut out = out.lock();
    for path in paths {
        let suite = path.display().to_string();
        let (set, compiled) = match compile(path) {
            Ok(c) => c,
            Err(Failure::Findings) => {
                if human {
                    let _ = writeln!(out, "{suite}: does not compile");
                }
                broken.push(tests_out::Broken { suite });
                continue;
            }
            Err(e) => return Err(e),
        };
        let bundle = bundle_of(&compiled)?;
        let tests: Vec<_> = compiled
            .model
            .tests
            .iter()
            .filter(|t| filter.is_none_or(|f| t.name.value.contains(f)))
            .cloned()
            .collect();
        let results = omnirule_dsl::testing::run_tests(&tests, &bundle);
        if results.is_empty() && human {
            let _ = writeln!(
                out,
                "{suite}: no tests{}",
                if filter.is_some() {
                    " match the filter"
                } else {
                    ""
                }
            );
        }
        for r in results {
            let failures: Vec<tests_out::Failure> = r
                .failures
                .iter()
                .map(|f| tests_out::Failure {
                    at: set
                        .sources
                        .get(f.span.file)
                        .map(|s| {
                            let (l, c) = s.line_col(f.span.start as usize);
                            format!("{}:{l}:{c}", s.name)
                        })
                        .unwrap_or_default(),
                    message: f.message.clone(),
                    actual: f
                        .actual
                        .iter()
                        .map(|d| serde_json::to_value(d).unwrap_or_default())
                        .collect(),
                })
                .collect();
            if human {
                let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
                let _ = writeln!(out, "test {suite} :: {} ... {verdict}", r.name);
                for f in &failures {
                    let _ = writeln!(out, "    {}: {}", f.at, f.message);
                    if f.actual.is_empty() {
                        let _ = writeln!(out, "    actual decisions: none");
                    } else {
                        let _ = writeln!(out, "    actual decisions:");
                        for d in &f.actual {
                            let _ = writeln!(out, "      {d}");
                        }
                    }
                }
            }
            cases.push(tests_out::Case {
                suite: suite.clone(),
                name: r.name,
                failures,
            });
        }
    }
    let failed = cases.iter().filter(|c| !c.failures.is_empty()).count() + broken.len();
    let _ = match format {
        TestFormat::Human => writeln!(
            out,
            "{} passed, {failed} failed",
            cases.len() + broken.len() - failed
        ),
        TestFormat::Json => write!(out, "{}", tests_out::json(&cases, &broken)),
        TestFormat::Junit => write!(out, "{}", tests_out::junit(&cases, &broken)),
    };
    if failed > 0 {
        return Err(Failure::Findings);
    }
    Ok(())
}

fn build(path: &Path, output: &Path, json: bool, sign: Option<&Path>) -> Outcome {
    let (_, compiled) = compile(path)?;
    let mut bundle = bundle_of(&compiled)?;
    if let Some(key_path) = sign {
        let text = std::fs::read_to_string(key_path)
            .map_err(|e| Failure::Input(format!("{}: {e}", key_path.display())))?;
        let key = SecretKey::from_text(&text)
            .map_err(|e| Failure::Input(format!("{}: {e}", key_path.display())))?;
        bundle = bundle.signed(&key);
        eprintln!("signed with key {}", key.key_id());
    }
    let bytes = if json {
        bundle.to_json().into_bytes()
    } else {
        bundle.to_bytes()
    };
    write_out(output, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes, {} rules, hash {})",
        output.display(),
        bytes.len(),
        compiled.graph.rules.len(),
        bundle.hash_hex()
    );
    Ok(())
}

fn keygen(output: &Path) -> Outcome {
    let public_path = PathBuf::from(format!("{}.pub", output.display()));
    for p in [output, public_path.as_path()] {
        if p.exists() {
            return Err(Failure::Input(format!(
                "{}: already exists (a key is not overwritten)",
                p.display()
            )));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Failure::Input(format!("no randomness for a key: {e}")))?;
    let key = SecretKey::from_seed(seed);
    write_secret(output, key.to_text().as_bytes())
        .map_err(|e| Failure::Input(format!("{}: {e}", output.display())))?;
    std::fs::write(&public_path, format!("{}\n", key.public_text()))
        .map_err(|e| Failure::Input(format!("{}: {e}", public_path.display())))?;
    println!("{}", key.public_text());
    eprintln!(
        "wrote {} (secret: keep it off the hosts) and {} (key id {}): give hosts the public key",
        output.display(),
        public_path.display(),
        key.key_id()
    );
    Ok(())
}

/// Creates `path` readable and writable by its owner only (where the platform has modes).
fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// Trusted keys from `--trusted-key` values: a key's text, or a file holding keys.
fn trusted_keys(values: &[String]) -> Result<TrustedKeys, Failure> {
    let mut text = String::new();
    for v in values {
        if v.starts_with(omnirule_engine::bundle::signature::PUBLIC_KEY_PREFIX) {
            text.push_str(v);
        } else {
            text.push_str(
                &std::fs::read_to_string(v).map_err(|e| Failure::Input(format!("{v}: {e}")))?,
            );
        }
        text.push('\n');
    }
    TrustedKeys::parse_checked(&text).map_err(|e| Failure::Input(e.to_string()))
}

fn verify(path: &Path, trusted: &[String]) -> Outcome {
    let keys = trusted_keys(trusted)?;
    let bundle = open_bundle(path)?;
    match bundle.verify(&keys) {
        Ok(id) => {
            println!(
                "{}: signed by trusted key {id} (hash {})",
                path.display(),
                bundle.hash_hex()
            );
            Ok(())
        }
        Err(e) => Err(Failure::Input(format!("{}: {e}", path.display()))),
    }
}

/// A bundle's bytes, binary or its JSON form: `(bundle, format version, encoding)`.
fn bundle_from_bytes(name: &str, bytes: &[u8]) -> Result<(Bundle, u64, &'static str), Failure> {
    if bytes.starts_with(b"OMNIRULE") {
        let version = bytes
            .get(8..10)
            .and_then(|v| <[u8; 2]>::try_from(v).ok())
            .map_or(0, |v| u64::from(u16::from_le_bytes(v)));
        return Bundle::from_bytes(bytes)
            .map(|b| (b, version, "binary"))
            .map_err(|e| Failure::Input(format!("{name}: {e}")));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Failure::Input(format!("{name}: not an Omnirule bundle")))?;
    let version = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64))
        .unwrap_or(0);
    Bundle::from_json(text)
        .map(|b| (b, version, "JSON"))
        .map_err(|e| Failure::Input(format!("{name}: {e}")))
}

fn inspect_bundle(path: &Path, format: OutputFormat) -> Outcome {
    let (name, bytes) = if is_stdio(path) {
        ("<stdin>".to_string(), read_stdin()?)
    } else {
        (
            path.display().to_string(),
            std::fs::read(path).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?,
        )
    };
    let (bundle, version, encoding) = bundle_from_bytes(&name, &bytes)?;
    let source = inspect::Source {
        name,
        format: version,
        encoding,
        bytes: bytes.len(),
    };
    let value = inspect::to_json(&bundle, &source);
    match format {
        OutputFormat::Json => println!("{value}"),
        OutputFormat::Human => print!("{}", inspect::to_text(&value)),
    }
    Ok(())
}

/// A bundle file (binary, or its JSON form) or a rule set to compile on the fly; `-`: a bundle
/// on standard input.
fn open_bundle(path: &Path) -> Result<Bundle, Failure> {
    if is_stdio(path) {
        return bundle_from_bytes("<stdin>", &read_stdin()?).map(|(b, _, _)| b);
    }
    if path.is_file() {
        let bytes =
            std::fs::read(path).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
        if bytes.starts_with(b"OMNIRULE") {
            return Bundle::from_bytes(&bytes)
                .map_err(|e| Failure::Input(format!("{}: {e}", path.display())));
        }
        if path.extension().is_some_and(|x| x == "json") {
            let text = String::from_utf8(bytes)
                .map_err(|_| Failure::Input(format!("{}: not UTF-8 text", path.display())))?;
            return Bundle::from_json(&text)
                .map_err(|e| Failure::Input(format!("{}: {e}", path.display())));
        }
        if path.extension().is_some_and(|x| x != "rules") {
            return Err(Failure::Input(format!(
                "{}: not an Omnirule bundle (expected a bundle, its JSON form, or a `.rules` file)",
                path.display()
            )));
        }
    }
    let (_, compiled) = compile(path)?;
    bundle_of(&compiled)
}

fn read_json(path: &Path) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::Input(format!(
            "{}:{}: malformed JSON: {e}",
            path.display(),
            e.line()
        ))
    })
}

fn run(
    bundle_path: &Path,
    profile_path: &Path,
    events_path: &Path,
    memory_path: Option<&Path>,
    explain: bool,
    write_memory: Option<&Path>,
    log: Option<(&Path, &str, Option<&str>)>,
) -> Outcome {
    let bundle = open_bundle(bundle_path)?;
    let mut log_file = match log {
        Some((path, _, _)) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(std::io::BufWriter::new)
                .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let profile = Profile::from_json(&bundle, &read_json(profile_path)?)
        .map_err(|e| Failure::Input(format!("{}: {e}", profile_path.display())))?;
    let mut memory = match memory_path {
        None => Memory::default(),
        Some(p) => read_memory(p)?,
    };
    let text = std::fs::read_to_string(events_path)
        .map_err(|e| Failure::Input(format!("{}: {e}", events_path.display())))?;
    // Parse and validate every line before evaluating any: bad input changes nothing.
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{n}", events_path.display());
        let mut json: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Failure::Input(format!("{at}: malformed JSON: {e}")))?;
        if let Some(obj) = json.as_object_mut() {
            obj.entry("id")
                .or_insert_with(|| serde_json::Value::String(format!("line-{n}")));
        }
        let mut event =
            Event::from_json(&bundle, &json).map_err(|e| Failure::Input(format!("{at}: {e}")))?;
        // Exposures remember where they happened, so a conversion logged elsewhere says so.
        if let Some((_, channel, host)) = log {
            event.set_place(Some(channel), host);
        }
        let id = json.get("id").cloned().unwrap_or(serde_json::Value::Null);
        events.push((id, event));
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    for (id, event) in &events {
        let mut line = serde_json::Map::new();
        line.insert("event".into(), id.clone());
        let (decisions, conversions) = if explain {
            let (evaluation, explanation) =
                omnirule_engine::explain(&bundle, &memory, &profile, event);
            line.insert(
                "explanation".into(),
                serde_json::to_value(&explanation).unwrap_or_default(),
            );
            memory = evaluation.memory;
            (evaluation.decisions, evaluation.conversions)
        } else {
            let evaluation = omnirule_engine::evaluate(&bundle, &memory, &profile, event);
            memory = evaluation.memory;
            (evaluation.decisions, evaluation.conversions)
        };
        line.insert(
            "decisions".into(),
            serde_json::to_value(&decisions).unwrap_or_default(),
        );
        if !conversions.is_empty() {
            line.insert(
                "conversions".into(),
                serde_json::Value::Array(conversions.iter().map(|c| c.to_json()).collect()),
            );
        }
        if let (Some(file), Some((path, channel, host))) = (log_file.as_mut(), log) {
            let place = omnirule_engine::host::Place { channel, host };
            let mut lines = String::new();
            omnirule_engine::host::write_exposures(
                &bundle, &profile, event, &decisions, place, &mut lines,
            );
            omnirule_engine::host::write_conversions(
                &profile,
                event,
                &conversions,
                place,
                &mut lines,
            );
            file.write_all(lines.as_bytes())
                .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
        }
        let _ = writeln!(out, "{}", serde_json::Value::Object(line));
    }
    if let (Some(mut file), Some((path, _, _))) = (log_file, log) {
        file.flush()
            .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
    }
    if let Some(p) = write_memory {
        std::fs::write(p, memory.to_json())
            .map_err(|e| Failure::Input(format!("{}: {e}", p.display())))?;
    }
    Ok(())
}

fn read_memory(path: &Path) -> Result<Memory, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
    Memory::from_json(&text).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
}

fn merge(bundle_path: &Path, memories: &[PathBuf], output: Option<&Path>) -> Outcome {
    let bundle = open_bundle(bundle_path)?;
    let mut merged = Memory::default();
    for m in memories {
        merged = merged.merge(&read_memory(m)?, &bundle);
    }
    let json = merged.to_json();
    match output {
        Some(p) => {
            std::fs::write(p, json).map_err(|e| Failure::Input(format!("{}: {e}", p.display())))?
        }
        None => println!("{json}"),
    }
    Ok(())
}

fn graph(path: &Path, output: Option<&Path>, svg: Option<&Path>) -> Outcome {
    let (_, compiled) = compile(path)?;
    let dot = omnirule_dsl::dot::to_dot(&compiled.graph);
    match output {
        Some(p) => {
            std::fs::write(p, &dot).map_err(|e| Failure::Input(format!("{}: {e}", p.display())))?
        }
        None => print!("{dot}"),
    }
    if let Some(svg) = svg {
        let child = std::process::Command::new("dot")
            .arg("-Tsvg")
            .arg("-o")
            .arg(svg)
            .stdin(std::process::Stdio::piped())
            .spawn();
        let mut child = child.map_err(|_| {
            Failure::Input("Graphviz `dot` is not installed (apt-get install graphviz); the DOT text was written".into())
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(dot.as_bytes());
        }
        let status = child
            .wait()
            .map_err(|e| Failure::Input(format!("dot: {e}")))?;
        if !status.success() {
            return Err(Failure::Input(format!("dot failed ({status})")));
        }
        eprintln!("wrote {}", svg.display());
    }
    Ok(())
}

/// `omnirule report`: every log streamed through one builder, then rendered.
fn report(logs: &[PathBuf], format: ReportFormat, output: Option<&Path>, level: f64) -> Outcome {
    if !(level > 0.0 && level < 1.0) {
        return Err(Failure::Input(format!(
            "--level {level}: a confidence level is between 0 and 1 (0.95)"
        )));
    }
    let mut builder = omnirule_report::report::Builder::default();
    for path in logs {
        let result = if path.as_os_str() == "-" {
            omnirule_report::read(&mut builder, "<stdin>", std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(path)
                .map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
            omnirule_report::read(
                &mut builder,
                &path.display().to_string(),
                std::io::BufReader::with_capacity(1 << 16, file),
            )
        };
        result.map_err(|e| Failure::Input(e.to_string()))?;
    }
    let report = builder.finish(level);
    let text = match format {
        ReportFormat::Table => omnirule_report::render::table(&report),
        ReportFormat::Html => omnirule_report::render::html(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report)
            .map(|t| t + "\n")
            .map_err(|e| Failure::Input(format!("the report as JSON: {e}")))?,
    };
    match output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| Failure::Input(format!("cannot write {}: {e}", p.display()))),
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            Ok(())
        }
    }
}
