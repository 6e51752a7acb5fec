//! The peers'-suites oracle: small templates learnt from the test suites of Go's
//! `text/template`, Helm's engine, Sprig and Helm's strvals, each run through the real
//! `helm template` (`$HELM_BIN`) and through our engine, and compared.
//!
//! Every `tests/oracle/<suite>.cases` file is a suite (format: [`format`]). A case is a
//! template plus its chart setup (values, flags, files, Chart.yaml fields); the test
//! writes it into a scratch chart as `templates/<case>.yaml`, between two marks so its
//! exact bytes can be found again, and computes the expected text by running Helm.
//! Helm runs few times: the cases of a suite that share a setup and that our engine
//! renders go into one chart (one template per case), and the chart also holds a
//! template that is not YAML, so `helm template --debug` prints every template's raw
//! output instead of parsing it. A case our engine refuses runs alone (Helm stops at the
//! first failing template); if a batch fails anyway, the case Helm names is taken out
//! and the rest runs again.
//!
//! Outcomes: equal, both refuse (error texts may differ), differ, ours-fails,
//! helm-fails. `tests/oracle/<suite>.known` (`case: cause` per line) is the ratchet: a
//! case missing from it must agree, and a listed case that now agrees fails the test
//! too, so the lists only shrink. Helm's answers are remembered under `target/tmp`
//! (see [`cache_path`]; `ORACLE_NO_CACHE=1` runs Helm for everything). `ORACLE_VERBOSE=1` prints every case that is not
//! equal, refusals included, with both sides.

mod format;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use fleet_bundle::helm::chart::ChartFile;
use fleet_bundle::helm::load::{load_files, LoadLimits};
use fleet_bundle::helm::render::{
    render_files, render_loaded_files, GoTemplateEngine, TemplateOptions,
};
use fleet_bundle::helm::values::ValueOptions;
use format::Case;

const SUITES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle");

/// The marks around a case's output.
const BEGIN: &str = "@@oracle-begin@@";
const END: &str = "@@oracle-end@@";
/// A template that is never YAML: it makes `helm template --debug` print raw outputs.
const RAW_FILE: &str = "templates/zz-oracle-raw.yaml";
const RAW_TEXT: &str = "@@oracle: [";

/// The real helm: `$HELM_BIN`, else `.tools/bin/helm` of the checkout.
fn helm_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("HELM_BIN") {
        return PathBuf::from(bin);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join(".tools/bin/helm"))
        .find(|p| p.is_file())
        .expect("helm not found: run `make setup` or set HELM_BIN")
}

/// A case's result on one side: its exact output, or why it was refused.
type Rendered = Result<String, String>;

/// The files of the scratch chart of `cases` (which share one setup), by path in the
/// chart, and the chart's name.
fn chart_files(cases: &[&Case]) -> (Vec<(String, Vec<u8>)>, String) {
    let setup = cases[0];
    let chart_yaml = format::chart_yaml(setup);
    let mut files = vec![("Chart.yaml".to_string(), chart_yaml.clone().into_bytes())];
    if let Some(values) = &setup.values {
        files.push(("values.yaml".into(), values.clone().into_bytes()));
    }
    files.extend(setup.files.iter().flatten().cloned());
    for case in cases {
        files.push((
            format!("templates/{}.yaml", case.name),
            format!("{BEGIN}{}{END}", case.template).into_bytes(),
        ));
    }
    files.push((RAW_FILE.into(), RAW_TEXT.into()));
    (files, format::chart_name(&chart_yaml))
}

/// Writes the scratch chart of `cases` under `dir`; returns the chart directory and its
/// name.
fn write_chart(dir: &Path, cases: &[&Case]) -> (PathBuf, String) {
    let (files, name) = chart_files(cases);
    let chart_dir = dir.join("chart");
    for (rel, data) in &files {
        let path = chart_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, data).unwrap();
    }
    (chart_dir, name)
}

/// `helm template` flags of a case as our options.
fn options(case: &Case, chart_dir: &Path) -> Result<TemplateOptions, String> {
    let mut opts = TemplateOptions {
        values: ValueOptions {
            base_dir: Some(chart_dir.to_path_buf()),
            ..ValueOptions::default()
        },
        ..TemplateOptions::default()
    };
    for (flag, value) in case.args.iter().flatten() {
        let value = value.clone();
        match flag.as_str() {
            "--set" => opts.values.values.push(value),
            "--set-string" => opts.values.string_values.push(value),
            "--set-json" => opts.values.json_values.push(value),
            "--set-literal" => opts.values.literal_values.push(value),
            "--set-file" => opts.values.file_values.push(value),
            "-f" | "--values" => opts.values.value_files.push(value.into()),
            "--api-versions" => opts.api_versions.push(value),
            "--kube-version" => opts.kube_version = Some(value),
            "--namespace" => opts.namespace = value,
            "--is-upgrade" => opts.is_upgrade = true,
            other => return Err(format!("flag {other} is not supported by the oracle")),
        }
    }
    Ok(opts)
}

/// The case's output within a file's output (between the marks).
fn unmark(text: &str) -> Option<String> {
    let inner = text.strip_prefix(BEGIN)?.strip_suffix(END)?;
    Some(inner.to_string())
}

/// Our engine on a case alone. The chart is built in memory unless the case reads
/// files from disk (`-f`, `--set-file`) or has a `.helmignore`, which only a chart
/// directory honours.
fn ours(case: &Case) -> Rendered {
    let on_disk = case
        .args
        .iter()
        .flatten()
        .any(|(flag, _)| matches!(flag.as_str(), "-f" | "--values" | "--set-file"))
        || case
            .files
            .iter()
            .flatten()
            .any(|(path, _)| path.ends_with(".helmignore"));
    let (files, chart) = chart_files(&[case]);
    let result = if on_disk {
        let tmp = tempfile::tempdir().unwrap();
        let (chart_dir, _) = write_chart(tmp.path(), &[case]);
        let opts = options(case, &chart_dir)?;
        std::panic::catch_unwind(|| render_files(&chart_dir, &opts, &GoTemplateEngine))
    } else {
        let opts = options(case, Path::new("."))?;
        std::panic::catch_unwind(|| {
            let files = files
                .into_iter()
                .map(|(name, data)| ChartFile { name, data })
                .collect();
            let loaded = load_files(files, "chart", LoadLimits::default())?;
            render_loaded_files(loaded, &opts, &GoTemplateEngine)
        })
    };
    let files = match result {
        Ok(Ok(files)) => files,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("our engine panicked".into()),
    };
    let path = format!("{chart}/templates/{}.yaml", case.name);
    files
        .get(&path)
        .and_then(|t| unmark(t))
        .ok_or_else(|| format!("no output for {path}"))
}

/// What one Helm run gave: every case's output, or Helm's error.
type HelmRun = Result<HashMap<String, String>, String>;

/// Where Helm's answers are kept between runs (`target/tmp`): a run is named by the
/// digest of the helm binary (size and time) and of everything it reads (chart files,
/// flags), so a changed case or a new helm runs again. `ORACLE_NO_CACHE=1` ignores it.
fn cache_path(cases: &[&Case]) -> Option<PathBuf> {
    use sha2::Digest;
    if std::env::var_os("ORACLE_NO_CACHE").is_some() {
        return None;
    }
    let bin = helm_bin();
    let meta = std::fs::metadata(&bin).ok()?;
    let mut hash = sha2::Sha256::new();
    hash.update(format!(
        "{}|{}|{:?}|",
        bin.display(),
        meta.len(),
        meta.modified().ok()
    ));
    for (path, data) in chart_files(cases).0 {
        hash.update(format!("{}|{}|", path, data.len()));
        hash.update(&data);
    }
    hash.update(format!("{:?}", cases[0].args));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oracle-helm-cache");
    Some(dir.join(format!("{}.json", hex::encode(hash.finalize()))))
}

/// [`helm_run_uncached`], remembered in [`cache_path`].
fn helm_run(cases: &[&Case]) -> HelmRun {
    let path = cache_path(cases);
    if let Some(saved) = path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<HelmRun>(&b).ok())
    {
        return saved;
    }
    let run = helm_run_uncached(cases);
    if let Some(path) = path {
        let _ = std::fs::create_dir_all(path.parent().unwrap());
        let _ = std::fs::write(&path, serde_json::to_vec(&run).unwrap());
    }
    run
}

/// One `helm template --debug` run over the chart of `cases`: every case's output, or
/// Helm's error (debug log lines dropped).
fn helm_run_uncached(cases: &[&Case]) -> HelmRun {
    let tmp = tempfile::tempdir().unwrap();
    let (chart_dir, chart) = write_chart(tmp.path(), cases);
    let home = tmp.path().join("home");
    let mut cmd = Command::new(helm_bin());
    cmd.args(["template", ".", "--debug", "--no-hooks"])
        .current_dir(&chart_dir)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    for (flag, value) in cases[0].args.iter().flatten() {
        cmd.arg(flag);
        if !value.is_empty() || flag != "--is-upgrade" {
            cmd.arg(value);
        }
    }
    let out = cmd.output().expect("cannot run helm");
    let stderr: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("level=DEBUG"))
        .collect::<Vec<_>>()
        .join("\n");
    if !stderr.contains("YAML parse error on ") {
        return Err(stderr);
    }
    // `---\n# Source: PATH\nTEXT\n` per template, the stream's own end trimmed: the
    // marks make each TEXT exact.
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut outputs = HashMap::new();
    for case in cases {
        let header = format!("# Source: {chart}/templates/{}.yaml\n", case.name);
        let Some(at) = stdout.find(&header) else {
            continue;
        };
        let rest = &stdout[at + header.len()..];
        let end = rest
            .find(&format!("{END}\n---\n# Source: "))
            .or_else(|| rest.rfind(END))
            .map(|i| i + END.len());
        if let Some(text) = end.and_then(|e| unmark(&rest[..e])) {
            outputs.insert(case.name.clone(), text);
        }
    }
    Ok(outputs)
}

/// Helm's results for cases sharing a setup: one run when all render; otherwise the
/// case Helm's error names is set aside and the others run again.
fn helm_group(mut cases: Vec<&Case>) -> Vec<(String, Rendered)> {
    let mut results = Vec::new();
    while !cases.is_empty() {
        match helm_run(&cases) {
            Ok(mut outputs) => {
                for case in &cases {
                    let out = outputs
                        .remove(&case.name)
                        .ok_or_else(|| "helm printed no output for the case".to_string());
                    results.push((case.name.clone(), out));
                }
                break;
            }
            Err(error) if cases.len() == 1 => {
                results.push((cases[0].name.clone(), Err(error)));
                break;
            }
            Err(error) => {
                let named = cases
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| {
                        error
                            .find(&format!("/templates/{}.yaml", c.name))
                            .map(|at| (at, i))
                    })
                    .min();
                match named {
                    Some((_, i)) => {
                        let case = cases.remove(i);
                        results.push((case.name.clone(), Err(error)));
                    }
                    None => {
                        for case in cases.drain(..) {
                            results.extend(helm_group(vec![case]));
                        }
                    }
                }
            }
        }
    }
    results
}

/// Runs `f` over `items` on a few threads.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item is mapped"))
        .collect()
}

/// Names of the templates a case defines (`define`/`block`), its files' included.
fn defined_names(case: &Case) -> Vec<String> {
    let re = regex::Regex::new(r#"\{\{-?\s*(?:define|block)\s+"([^"]*)""#).unwrap();
    let mut texts = vec![case.template.clone()];
    for (path, data) in case.files.iter().flatten() {
        if path.starts_with("templates/") {
            texts.push(String::from_utf8_lossy(data).into_owned());
        }
    }
    texts
        .iter()
        .flat_map(|t| {
            re.captures_iter(t)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Equal,
    BothRefuse,
    Differ,
    OursFails,
    HelmFails,
}

fn outcome(ours: &Rendered, helm: &Rendered) -> Outcome {
    match (ours, helm) {
        (Ok(a), Ok(b)) if a == b => Outcome::Equal,
        (Ok(_), Ok(_)) => Outcome::Differ,
        (Err(_), Err(_)) => Outcome::BothRefuse,
        (Err(_), Ok(_)) => Outcome::OursFails,
        (Ok(_), Err(_)) => Outcome::HelmFails,
    }
}

fn short(text: &str) -> String {
    let mut s = format!("{text:?}");
    if s.len() > 240 {
        let cut = (0..=240)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

fn known(suite: &str) -> BTreeMap<String, String> {
    let path = Path::new(SUITES).join(format!("{suite}.known"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(c, cause)| (c.trim().to_string(), cause.trim().to_string()))
        .collect()
}

/// Runs one suite; returns the problems that fail the test.
fn run_suite(suite: &str, cases: &[Case]) -> Vec<String> {
    let started = std::time::Instant::now();
    let our_results = par_map(cases, ours);
    let ours_time = started.elapsed();

    // Defines shared by two cases would override each other in one chart.
    let mut define_count: HashMap<String, usize> = HashMap::new();
    for case in cases {
        for name in defined_names(case) {
            *define_count.entry(name).or_default() += 1;
        }
    }
    let mut groups: BTreeMap<String, Vec<&Case>> = BTreeMap::new();
    let mut jobs: Vec<Vec<&Case>> = Vec::new();
    for (case, mine) in cases.iter().zip(&our_results) {
        let shared = defined_names(case)
            .iter()
            .any(|n| define_count.get(n).copied().unwrap_or(0) > 1);
        if mine.is_err() || shared {
            jobs.push(vec![case]);
        } else {
            groups.entry(case.setup_key()).or_default().push(case);
        }
    }
    jobs.extend(groups.into_values());
    // Big batches first, so the threads end together.
    jobs.sort_by_key(|j| std::cmp::Reverse(j.len()));
    let helm_results: HashMap<String, Rendered> = par_map(&jobs, |job| helm_group(job.clone()))
        .into_iter()
        .flatten()
        .collect();
    let helm_runs = jobs.len();

    let listed = known(suite);
    // `ORACLE_VERBOSE=1`: every case that is not equal, with both sides.
    let verbose = std::env::var_os("ORACLE_VERBOSE").is_some();
    let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut report = Vec::new();
    let mut problems = Vec::new();
    for (case, mine) in cases.iter().zip(&our_results) {
        let theirs = &helm_results[&case.name];
        let o = outcome(mine, theirs);
        *counts.entry(o).or_default() += 1;
        let agrees = matches!(o, Outcome::Equal | Outcome::BothRefuse);
        let detail = match (mine, theirs) {
            (Ok(a), Ok(b)) => format!("ours {} helm {}", short(a), short(b)),
            (Err(e), Ok(b)) => format!("ours refuses: {}; helm {}", short(e), short(b)),
            (Ok(a), Err(e)) => format!("ours {}; helm refuses: {}", short(a), short(e)),
            (Err(a), Err(b)) => format!("ours refuses: {}; helm refuses: {}", short(a), short(b)),
        };
        if verbose && o != Outcome::Equal {
            println!("  {name}: {o:?}: {detail}", name = case.name);
        }
        let name = &case.name;
        match (agrees, listed.get(name)) {
            (true, Some(_)) => problems.push(format!(
                "{suite}/{name}: now agrees with helm; remove it from {suite}.known"
            )),
            (false, None) => problems.push(format!(
                "{suite}/{name} (line {}): {o:?}: {detail}",
                case.line
            )),
            (false, Some(cause)) => report.push(format!("{name}: {o:?} (known: {cause})")),
            (true, None) => {}
        }
    }
    for name in listed.keys() {
        if !cases.iter().any(|c| &c.name == name) {
            problems.push(format!("{suite}.known lists {name}, which is not a case"));
        }
    }
    let n = |o| counts.get(&o).copied().unwrap_or(0);
    let differ = n(Outcome::Differ) + n(Outcome::OursFails) + n(Outcome::HelmFails);
    println!(
        "oracle {suite}: {} cases, {} equal, {} both refuse, {differ} differ ({} outputs, {} ours-fails, {} helm-fails) [{helm_runs} helm runs, {:.1}s, ours {:.1}s]",
        cases.len(),
        n(Outcome::Equal),
        n(Outcome::BothRefuse),
        n(Outcome::Differ),
        n(Outcome::OursFails),
        n(Outcome::HelmFails),
        started.elapsed().as_secs_f64(),
        ours_time.as_secs_f64()
    );
    for line in report {
        println!("  {line}");
    }
    problems
}

#[test]
fn peers_suites_agree_with_helm() {
    let mut suites: Vec<PathBuf> = std::fs::read_dir(SUITES)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cases"))
        .collect();
    suites.sort();
    assert!(!suites.is_empty(), "no suites under {SUITES}");
    let mut problems = Vec::new();
    for path in &suites {
        let suite = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let cases = format::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        problems.extend(run_suite(&suite, &cases));
    }
    assert!(
        problems.is_empty(),
        "the oracle found {} disagreements with helm:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
