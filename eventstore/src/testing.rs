//! Test fixtures: a fresh PostgreSQL schema or SQLite file per test, so tests
//! never see each other's data.
//!
//! PostgreSQL is found at `AGENTOS_TEST_DATABASE_URL` (the test command
//! creates a fresh database per run and sets it), else at
//! `postgres://postgres@127.0.0.1:5432/postgres`.

use std::sync::Arc;

use crate::postgres::{PgConfig, PgStore};
use crate::sqlite::SqliteStore;
use crate::EventStore;

/// The database tests run in.
pub fn database_url() -> String {
    std::env::var("AGENTOS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A store in a schema of its own, dropped with it.
pub struct TestPostgres {
    /// The store.
    pub store: PgStore,
    /// The schema's name.
    pub schema: String,
}

impl TestPostgres {
    /// A store in a fresh schema of the test database.
    ///
    /// Panics with a clear message when PostgreSQL cannot be reached: a test
    /// that needs it must fail, not skip.
    pub async fn new() -> Self {
        let schema = format!("t_{}_{:016x}", std::process::id(), fastrand::u64(..));
        let mut config = PgConfig::new(&database_url());
        config.schema = Some(schema.clone());
        config.max_connections = 40;
        match PgStore::connect_with(config).await {
            Ok(store) => Self { store, schema },
            Err(e) => panic!(
                "PostgreSQL is needed for this test ({e}); run scripts/test, which starts it, \
                 or set AGENTOS_TEST_DATABASE_URL"
            ),
        }
    }

    /// The store as a trait object.
    pub fn shared(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }

    /// Another store on the same log, with a pool of its own: what a
    /// second process would open.
    pub async fn another_store(&self) -> PgStore {
        let mut config = PgConfig::new(&database_url());
        config.schema = Some(self.schema.clone());
        PgStore::connect_with(config)
            .await
            .expect("a second store on the same log")
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let schema = std::mem::take(&mut self.schema);
        // Drop runs inside the test's runtime; clean up from a thread of our own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&database_url()).await {
                    let ddl = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(ddl)).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A store in a temporary SQLite file, deleted with it.
pub struct TestSqlite {
    /// The store.
    pub store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl TestSqlite {
    /// A store in a fresh file.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(&dir.path().join("events.db"))
            .await
            .expect("open SQLite");
        Self { store, _dir: dir }
    }

    /// The store as a trait object.
    pub fn shared(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }
}

/// A nats-server with JetStream of the test's own, on a free port with a
/// temporary store, so a test can kill and restart it. Killed on drop.
///
/// The binary is `AGENTOS_NATS_SERVER`, else the one the test command installs
/// under `~/.cache/agentos/nats-venv`, else `nats-server` on the PATH; it must
/// be 2.10 or later.
pub struct TestNats {
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    binary: std::path::PathBuf,
    store_dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl TestNats {
    /// Starts a server; panics with what is missing when it cannot.
    pub async fn start() -> Self {
        let binary = nats_server_binary();
        let port = free_port();
        let store_dir = tempfile::tempdir().expect("a temporary directory for JetStream");
        let mut nats = Self {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            binary,
            store_dir,
            child: None,
        };
        nats.restart().await;
        nats
    }

    /// Kills the server abruptly (SIGKILL); its store stays for a restart.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store, waiting until it listens.
    pub async fn restart(&mut self) {
        self.kill();
        let child = std::process::Command::new(&self.binary)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store_dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        wait_for_port(self.port, "nats-server").await;
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn nats_server_binary() -> std::path::PathBuf {
    let candidates = std::env::var_os("AGENTOS_NATS_SERVER")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("HOME").map(|home| {
            std::path::Path::new(&home).join(".cache/agentos/nats-venv/bin/nats-server")
        }))
        .chain(std::iter::once(std::path::PathBuf::from("nats-server")));
    for candidate in candidates {
        let Ok(output) = std::process::Command::new(&candidate)
            .arg("--version")
            .output()
        else {
            continue;
        };
        let version = String::from_utf8_lossy(&output.stdout).to_string();
        if supports_jetstream_api(&version) {
            return candidate;
        }
    }
    panic!(
        "no nats-server 2.10 or later found: run scripts/test (it installs one), \
         or set AGENTOS_NATS_SERVER to its path"
    );
}

/// Whether `nats-server --version` output names 2.10 or later.
fn supports_jetstream_api(version: &str) -> bool {
    let Some(number) = version.split_whitespace().find_map(|w| w.strip_prefix('v')) else {
        return false;
    };
    let mut parts = number.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

/// Waits until a local server accepts connections on `port`, for up to 5 s.
async fn wait_for_port(port: u16, server: &str) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{server} did not listen on port {port} within 5 s");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// A PostgreSQL server of the test's own: a fresh cluster (`initdb`) on a
/// free port in a temporary directory, so a test can stop it abruptly and
/// start it again. Stopped and deleted on drop.
///
/// The binaries come from `AGENTOS_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`. PostgreSQL refuses to run as root, so
/// under root the server runs as the `postgres` user (through `runuser`).
pub struct TestPgServer {
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
    port: u16,
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
}

impl TestPgServer {
    /// Creates and starts the cluster; panics with what is missing when it cannot.
    pub async fn start() -> Self {
        let bin = pg_bin_dir();
        let dir = tempfile::tempdir().expect("a temporary directory for PostgreSQL");
        let as_postgres = running_as_root();
        if as_postgres {
            chown_to_postgres(dir.path());
        }
        let port = free_port();
        let server = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            bin,
            dir,
            as_postgres,
        };
        let data = server.data_dir();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        server.resume().await;
        server
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// One of the server's programs, run as `postgres` when we are root.
    fn program(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            std::process::Command::new(path)
        }
    }

    /// Runs one of the server's programs; panics with its output if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .program(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`):
    /// no shutdown checkpoint, every connection cut.
    pub fn crash(&self) {
        let data = self.data_dir();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub async fn resume(&self) {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-o", &options, "start"],
        );
        wait_for_port(self.port, "PostgreSQL").await;
    }
}

impl Drop for TestPgServer {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self
            .program("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

fn pg_bin_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("AGENTOS_PG_BIN") {
        return dir.into();
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .max_by_key(|(version, _)| *version);
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql: \
             install postgresql or set AGENTOS_PG_BIN"
        ),
    }
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn chown_to_postgres(path: &std::path::Path) {
    let id = |flag: &str| -> u32 {
        std::process::Command::new("id")
            .args([flag, "postgres"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or_else(|| panic!("running as root, PostgreSQL needs a `postgres` user"))
    };
    std::os::unix::fs::chown(path, Some(id("-u")), Some(id("-g")))
        .expect("hand the temporary directory to the postgres user");
}
