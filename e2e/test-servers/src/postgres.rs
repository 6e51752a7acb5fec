//! A throwaway PostgreSQL 15 server: `initdb` into a temp dir and `pg_ctl start` on a free
//! loopback port with trust auth, as the `postgres` user when the tests run as root
//! (PostgreSQL refuses to run as root). Stopped (immediate mode) on drop.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

use crate::process::{free_port, run, running_as_root};

/// Where Debian's PostgreSQL 15 server programs are.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running server; [`url`](Self::url) connects to its `postgres` database,
/// [`database`](Self::database) creates one per test.
pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
}

/// A PostgreSQL program, run as `postgres` when we are root.
fn server_program(name: &str) -> Command {
    let program = format!("{BIN}/{name}");
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &program]);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Creates and starts a server with trust authentication on 127.0.0.1.
    ///
    /// Durability is off (`fsync`, `synchronous_commit`, `full_page_writes`) for speed:
    /// the server is never restarted, so nothing a test can observe depends on it.
    pub fn start() -> anyhow::Result<Postgres> {
        // In /tmp rather than $TMPDIR: the unix socket lives in this directory, and a
        // socket path may not exceed 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("test-pg")
            .tempdir_in("/tmp")
            .context("creating the PostgreSQL directory")?;
        if running_as_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        run(server_program("initdb")
            .args([
                "--no-sync",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data))?;
        let port = free_port()?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            dir.path().display()
        );
        let log = dir.path().join("server.log");
        run(server_program("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "start"]))
        .with_context(|| format!("starting PostgreSQL (log: {})", log.display()))?;
        Ok(Postgres { dir, port })
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates the database `name` and returns its URL: a fresh database per test keeps
    /// tests sharing one server apart.
    pub fn database(&self, name: &str) -> anyhow::Result<String> {
        run(server_program("psql")
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-c"])
            .arg(format!("CREATE DATABASE {name}")))?;
        Ok(format!(
            "postgres://postgres@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    /// The server's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = server_program("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
