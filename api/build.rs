//! Builds the dashboard (`dashboard/`, React and TypeScript with Vite) and
//! embeds every file of the build in the `agentos` binary, so the gateway
//! serves it at `/` with nothing else installed where the binary runs.
//!
//! Where the files come from, in order:
//! 1. `AGENTOS_DASHBOARD_DIST`: a directory holding a build made elsewhere;
//! 2. otherwise `npm` builds `dashboard/` into this build's `OUT_DIR`
//!    (`npm ci` first when `dashboard/node_modules` is missing);
//! 3. otherwise (no npm, or the build failed) nothing is embedded and the
//!    gateway answers `/` with a page that says why and how to build it.
//!    The Rust build goes on: the API does not need the dashboard.
//!
//! The result is `$OUT_DIR/dashboard_assets.rs`, included by
//! `src/gateway/dashboard.rs`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let app = manifest.join("../dashboard");
    for watched in [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        // A path that does not exist would make cargo run this every time.
        let path = app.join(watched);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    // Until the app exists, its folder (or the manifest's) tells when it appears.
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("build.rs").display()
    );
    println!("cargo:rerun-if-env-changed=AGENTOS_DASHBOARD_DIST");

    let built = match env::var_os("AGENTOS_DASHBOARD_DIST") {
        Some(dist) => {
            let dist = PathBuf::from(dist);
            if dist.join("index.html").is_file() {
                println!("cargo:rerun-if-changed={}", dist.display());
                Ok(dist)
            } else {
                Err(format!(
                    "AGENTOS_DASHBOARD_DIST={} holds no index.html",
                    dist.display()
                ))
            }
        }
        None => build_with_npm(&app, &out_dir.join("dashboard")),
    };
    let source = match built {
        Ok(dist) => embed(&dist),
        Err(why) => {
            println!("cargo:warning=the dashboard is not embedded: {why}");
            format!(
                "/// The dashboard's files: none, see [`NOT_BUILT`].\n\
                 pub(crate) static ASSETS: &[(&str, &[u8])] = &[];\n\
                 /// Why the dashboard is not in this binary.\n\
                 pub(crate) const NOT_BUILT: Option<&str> = Some({why:?});\n"
            )
        }
    };
    fs::write(out_dir.join("dashboard_assets.rs"), source).expect("OUT_DIR is writable");
}

/// Builds the app with npm into `out`; the reason when it cannot.
fn build_with_npm(app: &Path, out: &Path) -> Result<PathBuf, String> {
    if !app.join("package.json").is_file() {
        return Err(format!("{} has no package.json", app.display()));
    }
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    if Command::new(npm).arg("--version").output().is_err() {
        return Err("npm is not installed (Node.js 18 or later is needed to build it)".to_owned());
    }
    if !app.join("node_modules").is_dir() {
        run(Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(app))?;
    }
    run(Command::new(npm)
        .args(["exec", "--", "vite", "build", "--emptyOutDir", "--outDir"])
        .arg(out)
        .current_dir(app))?;
    if out.join("index.html").is_file() {
        Ok(out.to_owned())
    } else {
        Err(format!("the build left no index.html in {}", out.display()))
    }
}

/// Runs a command; its output and status as the reason when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .map_err(|e| format!("{shown} did not start: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
    Err(format!(
        "{shown} failed ({}): {}",
        output.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    ))
}

/// Rust source embedding every file under `dist`.
fn embed(dist: &Path) -> String {
    let mut files = Vec::new();
    collect(dist, dist, &mut files);
    files.sort();
    let mut source = String::from(
        "/// The dashboard's files: (path under `/`, bytes).\n\
         pub(crate) static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (relative, absolute) in &files {
        let _ = writeln!(
            source,
            "    ({relative:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        );
    }
    source.push_str(
        "];\n/// Why the dashboard is not in this binary.\n\
         pub(crate) const NOT_BUILT: Option<&str> = None;\n",
    );
    source
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((relative, path));
        }
    }
}
