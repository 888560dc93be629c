//! The dashboard: the React app of `dashboard/`, embedded in the binary by
//! `build.rs`, served at `/`.
//!
//! A file of the build is served as itself (Vite's hashed `assets/` for a
//! year, the rest revalidated); any other GET of a path without a file
//! extension outside `/api/` is one of the app's own routes and gets
//! `index.html`. Unknown API paths and missing files stay 404 problems.
//! The app holds no data: every call it makes needs a token like any other
//! client's. A binary built without npm answers `/` with a page that says
//! why and how to build the dashboard, never a blank one.

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::ApiError;

include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

/// What the app may load and connect to: itself only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// Answers what no route matched: a file of the app, the app for one of
/// its routes, or a 404 problem.
pub(crate) async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if method != Method::GET && method != Method::HEAD {
        return ApiError::not_found("no such endpoint").into_response();
    }
    if path.starts_with("/api/") || path == "/api" {
        return ApiError::not_found("no such endpoint").into_response();
    }
    let relative = path.trim_start_matches('/');
    if let Some(bytes) = asset(relative) {
        return file(relative, bytes);
    }
    let last = relative.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return ApiError::not_found(format!("no file {path}")).into_response();
    }
    match (asset("index.html"), NOT_BUILT) {
        (Some(index), _) => file("index.html", index),
        (None, why) => not_built(why.unwrap_or("the build embedded no index.html")),
    }
}

/// The embedded file at `relative`, if any.
fn asset(relative: &str) -> Option<&'static [u8]> {
    ASSETS
        .iter()
        .find(|(name, _)| *name == relative)
        .map(|(_, bytes)| *bytes)
}

/// A file of the app with its type and caching.
fn file(relative: &str, bytes: &'static [u8]) -> Response {
    let cache = if relative.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type(relative)),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response();
    secure(&mut response);
    response
}

/// The page served at `/` by a binary built without the dashboard.
fn not_built(why: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>AgentOS: the dashboard is not built</title></head><body>\
         <h1>The dashboard is not built into this binary</h1>\
         <p>Why: {}</p>\
         <p>To build it, install Node.js 18 or later with npm, then rebuild the binary \
         (<code>cargo build --release -p api</code>): the build runs \
         <code>npm ci</code> and Vite by itself. Or build it elsewhere with \
         <code>cd dashboard &amp;&amp; npm ci &amp;&amp; npm run build</code> and rebuild with \
         <code>AGENTOS_DASHBOARD_DIST=dashboard/dist</code>.</p>\
         <p>The API works without it: <a href=\"/docs\">/docs</a>.</p></body></html>",
        escape(why)
    );
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response();
    secure(&mut response);
    response
}

/// The headers every page of the app carries.
fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The media type of a file, by its extension.
fn content_type(relative: &str) -> &'static str {
    match relative.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_have_their_media_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-3f2a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-3f2a.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn the_reason_is_shown_as_text() {
        assert_eq!(
            escape("<b>&\"x\"</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"
        );
    }
}
