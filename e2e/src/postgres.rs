//! A throwaway PostgreSQL server for whole-system tests: `initdb` into a temp dir and
//! `pg_ctl start` on a free loopback port, as the `postgres` user when running as root
//! (PostgreSQL refuses to run as root). Stopped (immediate mode) on drop.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

use crate::gitserver::free_port;

/// Where Debian's PostgreSQL 15 server programs are.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running server; [`url`](Self::url) connects to its `postgres` database.
pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

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

fn run(mut cmd: Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Postgres {
    /// Creates and starts a server with trust authentication on 127.0.0.1.
    pub fn start() -> anyhow::Result<Postgres> {
        let dir = tempfile::Builder::new()
            .prefix("e2e-pg")
            .tempdir_in("/tmp")?;
        if running_as_root() {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(dir.path());
            run(chown)?;
        }
        let data = dir.path().join("data");
        let mut initdb = server_program("initdb");
        initdb
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
            .arg(&data);
        run(initdb)?;
        let port = free_port()?;
        let mut start = server_program("pg_ctl");
        start
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("server.log"))
            .args([
                "-o",
                &format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                    dir.path().display()
                ),
                "start",
            ]);
        run(start)?;
        Ok(Postgres { dir, port })
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = server_program("pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"]);
        let _ = stop.output();
    }
}
