//! Embeds the agent chart (`deploy/charts/fleet-agent`) in the manager binary: the
//! manager renders it for `/install/agent.yaml` and serves it as a chart archive.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let chart = manifest.join("../deploy/charts/fleet-agent");
    let chart = chart
        .canonicalize()
        .unwrap_or_else(|e| panic!("the agent chart {}: {e}", chart.display()));
    println!("cargo:rerun-if-changed={}", chart.display());
    let mut list = Vec::new();
    files(&chart, &mut list);
    let mut code = String::from("/// The agent chart's files: (path in the chart, content).\npub const AGENT_CHART: &[(&str, &[u8])] = &[\n");
    for path in &list {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .strip_prefix(&chart)
            .expect("under the chart")
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("agent_chart.rs"), code).expect("writing agent_chart.rs");
}
