//! Running the `agentos` binary from a test.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs `agentos` with these arguments against a database, logging at `warn`.
pub fn agentos(database_url: &str, args: &[&str]) -> Output {
    agentos_logging(database_url, args, "warn")
}

/// Runs `agentos` with this log filter (`AGENTOS_LOG`).
pub fn agentos_logging(database_url: &str, args: &[&str], log: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentos"))
        .args(args)
        .env("AGENTOS_DATABASE_URL", database_url)
        .env("AGENTOS_LOG", log)
        .output()
        .expect("the binary runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails if the binary panicked.
pub fn assert_no_panic(output: &Output) {
    assert!(
        !text(&output.stderr).contains("panicked"),
        "{}",
        text(&output.stderr)
    );
}
