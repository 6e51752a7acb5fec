//! The processes behind the servers: started with their output in a log file, killed and
//! reaped when their handle drops, and waited for until their port accepts connections.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

/// A server process, killed (SIGKILL) and reaped when dropped, so that neither a passing
/// nor a panicking test leaves it running or a zombie behind.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `cmd` with its output in `log` (see [`spawn_logged`]).
    pub fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<Daemon> {
        Ok(Daemon {
            child: spawn_logged(&mut cmd, log)?,
        })
    }
}

/// Starts `cmd` with stdin closed and stdout and stderr appended to `log` (its directory
/// is created): the file to read when a process misbehaves, kept across a restart of the
/// same process.
pub fn spawn_logged(cmd: &mut Command, log: &Path) -> anyhow::Result<Child> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating log directory {}", dir.display()))?;
    }
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback TCP port: bound, then released for the server to take. Another process
/// may grab it in between, which is rare enough on a test machine to accept.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `127.0.0.1:port` accepts TCP connections, for at most about 10 to 30
/// seconds (a busy machine starts nginx or sshd slowly); `what` names the server in the
/// error.
pub fn wait_for_port(port: u16, what: &str) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..200 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} did not start listening on {addr}")
}

/// Runs `cmd` to completion and returns its stdout; fails with its stdout and stderr when
/// it exits unsuccessfully, since that output is the only clue to why.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the tests run as root: then servers that refuse root (PostgreSQL) run as their
/// own user, and files they own are handed over first.
pub(crate) fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_the_server_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let daemon = Daemon::spawn(cmd, &dir.path().join("logs/sleep.log")).expect("sleep starts");
        let pid = daemon.child.id();
        drop(daemon);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the process is gone (killed and reaped) once the handle drops"
        );
    }

    #[test]
    fn a_failed_command_reports_its_output() {
        let err = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"]))
            .expect_err("exit 3 fails");
        assert!(format!("{err:#}").contains("boom"), "{err:#}");
    }
}
