//! A real PostgreSQL server on loopback for the tests that need one: a fresh cluster in a
//! temporary directory, `log_connections` and `log_disconnections` on, and `debug1` so that an
//! unclean client disconnect ("unexpected EOF on client connection") shows in its log. Stopped
//! (and its directory removed) on drop.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{poll_until, temp_dir};

/// A running PostgreSQL server.
pub struct Postgres {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    log: PathBuf,
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/setup-test-deps.sh")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no PostgreSQL server binaries under /usr/lib/postgresql")
}

/// Runs a PostgreSQL program as the `postgres` user when we are root (initdb refuses root).
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Starts a fresh cluster on a free loopback port.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = temp_dir("pg");
        let data = dir.join("data");
        let log = dir.join("server.log");
        // The cluster belongs to `postgres`; so must its directories.
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
        let _ = Command::new("chmod").args(["755"]).arg(&dir).status();
        let out = as_postgres(&bin.join("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let logfile = std::fs::File::create(&log).unwrap();
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&log)
            .status();
        let child = as_postgres(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "log_connections=on",
                "-c",
                "log_disconnections=on",
                "-c",
                "log_min_messages=debug1",
                "-c",
                "log_line_prefix=%m [%p] %a ",
                "-c",
                "fsync=off",
            ])
            .stdin(Stdio::null())
            .stdout(logfile.try_clone().unwrap())
            .stderr(logfile)
            .spawn()
            .expect("start postgres");
        let pg = Postgres {
            child,
            port,
            dir,
            log,
        };
        assert!(
            poll_until(Duration::from_secs(20), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()
                && pg
                    .log()
                    .contains("database system is ready to accept connections")),
            "PostgreSQL did not start: {}",
            pg.log()
        );
        pg
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server log's file (scripts/pg-oracle.sh reads it with `--log`).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs one SQL statement with psql and returns its unaligned output.
    pub fn query(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        crate::util::signal(self.child.id(), "INT");
        if !poll_until(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_real_postgres_logs_connections_and_unclean_disconnects() {
    let pg = Postgres::start();
    assert_eq!(pg.query("select 1"), "1");
    assert!(pg.log().contains("connection authorized"), "{}", pg.log());
    assert!(poll_until(Duration::from_secs(5), || pg
        .log()
        .contains("disconnection: session time")));
    // Negative control for the runtime tests: a client killed mid-session is an unclean EOF.
    let mut psql = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .env("PGAPPNAME", "victim")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(poll_until(Duration::from_secs(5), || pg.query(
        "select count(*) from pg_stat_activity where application_name = 'victim'"
    ) == "1"));
    psql.kill().unwrap();
    let _ = psql.wait();
    assert!(
        poll_until(Duration::from_secs(5), || pg
            .log()
            .contains("unexpected EOF on client connection")),
        "{}",
        pg.log()
    );
}
