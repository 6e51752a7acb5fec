//! Child processes of the workspace's binaries (manager, agents, kube-double, git daemon)
//! for whole-system tests and the demo: started with their output in a log file, waited
//! for, and killed when the handle drops so a failing test leaves nothing running.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Where the workspace's binaries are: `$FLEET_BIN_DIR`, else the profile directory of the
/// running test executable (`target/debug/deps/x` → `target/debug`).
///
/// `make test` builds every binary before running the tests; a missing one is reported
/// with the command that builds it.
pub fn bin_path(name: &str) -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("FLEET_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().context("locating the test executable")?;
            let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir
        }
    };
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "binary {} not found; build it first with `cargo build --workspace --bins`",
            path.display()
        );
    }
    Ok(path)
}

/// A running child process whose stdout and stderr go to `log`.
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with its output appended to `log_dir/<name>.log`.
    pub fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> anyhow::Result<Proc> {
        let log = log_dir.join(format!("{name}.log"));
        let child = test_servers::process::spawn_logged(&mut cmd, &log)
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until the output contains `needle`, failing early if the process exits.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.output();
            if out.contains(needle) {
                return Ok(out);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before printing {needle:?}:\n{out}",
                    self.name
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}:\n{out}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_kills_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo ready; sleep 30"]);
        let mut p = Proc::spawn("sleeper", cmd, dir.path()).unwrap();
        p.wait_for_output("ready", Duration::from_secs(5)).unwrap();
        assert!(p.is_running());
        let pid = p.pid();
        drop(p);
        let alive = Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
        assert!(!alive, "the child is gone once the handle drops");
    }

    #[test]
    fn reports_early_exit_with_output() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo boom >&2; exit 3"]);
        let mut p = Proc::spawn("failing", cmd, dir.path()).unwrap();
        let err = p
            .wait_for_output("never", Duration::from_secs(5))
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("exited") && msg.contains("boom"), "{msg}");
    }

    #[test]
    fn missing_binary_names_the_build_command() {
        let err = bin_path("no-such-binary-here").unwrap_err();
        assert!(format!("{err:#}").contains("cargo build --workspace --bins"));
    }
}
