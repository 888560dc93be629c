//! Bearer tokens with roles, and the [`Principal`] every endpoint but
//! `/healthz` extracts.
//!
//! A token is 32 random bytes from the operating system's generator, shown
//! once when created; the database keeps only its SHA-256 digest, with a
//! name, a role and when it was created and revoked. Lookups are cached for
//! [`CACHE_TTL`], so a revoked token stops working within that time in every
//! process. Tokens never appear in logs or errors.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use domain::Actor;
use projections::{Db, ProjectionError, Value};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::problem::ApiError;
use super::AppState;

/// How long a token lookup is reused before the database is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(2);
/// Cached lookups at most; the cache is emptied when full.
const CACHE_MAX: usize = 10_000;
/// What every token starts with, so a leaked one is recognisable.
const TOKEN_PREFIX: &str = "agt_";

/// The table of tokens, created on first use.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS api_tokens (\
     token_hash TEXT PRIMARY KEY, \
     name TEXT NOT NULL, \
     role TEXT NOT NULL CHECK (role IN ('ceo', 'operator', 'auditor', 'viewer')), \
     created_at TEXT NOT NULL, \
     revoked_at TEXT)";
/// One live token per name.
const CREATE_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_live_name \
     ON api_tokens (name) WHERE revoked_at IS NULL";

/// What a token's holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Issues directives and approves.
    Ceo,
    /// Runs agents and operations.
    Operator,
    /// Reads everything, verifies and replays.
    Auditor,
    /// Reads the read models.
    Viewer,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Ceo, Role::Operator, Role::Auditor, Role::Viewer];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ceo => "ceo",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role's name was not one of `ceo`, `operator`, `auditor`, `viewer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use ceo, operator, auditor or viewer")]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Who is calling: the name and role of the token presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    /// The token's role.
    pub role: Role,
}

impl Principal {
    /// Ok if the principal holds one of `roles`, else a 403 problem.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "the role {} may not do this; it needs one of: {}",
            self.role,
            allowed.join(", ")
        )))
    }

    /// The actor events written on this principal's behalf carry (`user:<name>`).
    pub fn actor(&self) -> Actor {
        Actor::User(self.name.clone())
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(ApiError::missing_token)?;
        let header = header.to_str().map_err(|_| {
            ApiError::malformed_token("the Authorization header is not visible ASCII")
        })?;
        let (scheme, token) = header
            .split_once(' ')
            .ok_or_else(|| ApiError::malformed_token("expected Authorization: Bearer <token>"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::malformed_token(
                "expected Authorization: Bearer <token>",
            ));
        }
        let digest = parse_token(token.trim()).ok_or_else(|| {
            ApiError::malformed_token(format!(
                "a token is {TOKEN_PREFIX} followed by 64 hex digits"
            ))
        })?;
        match state.tokens.authenticate(&digest).await {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => Err(ApiError::invalid_token()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The SHA-256 digest of a well-formed token, in hex.
fn parse_token(token: &str) -> Option<String> {
    let hex_part = token.strip_prefix(TOKEN_PREFIX)?;
    if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(digest(token))
}

/// The hex SHA-256 digest of a token's text.
fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
}

/// A token just created: the secret, shown once.
pub struct NewToken {
    /// Its name and role.
    pub info: TokenInfo,
    /// The bearer token itself.
    pub secret: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("info", &self.info)
            .field("secret", &"***")
            .finish()
    }
}

/// Why a token could not be created, listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The name is not 1–64 characters of `A-Z a-z 0-9 . _ @ -`.
    #[error("invalid token name {0:?}: use 1-64 characters of A-Z a-z 0-9 . _ @ -")]
    InvalidName(String),
    /// A live token already has this name.
    #[error("a token named {0:?} already exists; revoke it first or choose another name")]
    NameTaken(String),
    /// No live token has this name.
    #[error("no live token is named {0:?}")]
    NotFound(String),
    /// The operating system's random generator failed.
    #[error("the random generator failed: {0}")]
    Random(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] ProjectionError),
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Database(e) => e.into(),
            other => ApiError::internal(&other),
        }
    }
}

/// Recent lookups: digest → (the live token's principal, if any; when looked up).
type Cache = HashMap<String, (Option<Principal>, Instant)>;

/// The token table and a short-lived cache of lookups.
#[derive(Clone)]
pub struct Tokens {
    db: Db,
    cache: Arc<Mutex<Cache>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

impl Tokens {
    /// The tokens kept with `db`, creating their table if needed. Tokens are
    /// not derived from the log, so they live in its primary database
    /// ([`Db::primary`]), never with the rebuildable read models.
    pub async fn open(db: Db) -> Result<Self, TokenError> {
        let db = db.primary();
        let mut tx = db.begin().await?;
        tx.serialise_ddl().await?;
        tx.execute(CREATE_TABLE, &[]).await?;
        tx.execute(CREATE_INDEX, &[]).await?;
        tx.commit().await?;
        Ok(Self {
            db,
            cache: Arc::default(),
        })
    }

    /// Creates a token; its secret is in the answer and nowhere else.
    pub async fn create(&self, name: &str, role: Role) -> Result<NewToken, TokenError> {
        if !is_valid_name(name) {
            return Err(TokenError::InvalidName(name.to_owned()));
        }
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(random_bytes()?));
        let created_at = Utc::now().to_rfc3339();
        let mut tx = self.db.begin().await?;
        let taken = tx
            .query(
                "SELECT count(*) FROM api_tokens WHERE name = $1 AND revoked_at IS NULL",
                &[Value::from(name)],
            )
            .await?;
        if first_int(&taken) > 0 {
            return Err(TokenError::NameTaken(name.to_owned()));
        }
        let inserted = tx
            .execute(
                "INSERT INTO api_tokens (token_hash, name, role, created_at) \
                 VALUES ($1, $2, $3, $4)",
                &[
                    Value::from(digest(&secret)),
                    Value::from(name),
                    Value::from(role.as_str()),
                    Value::from(created_at.as_str()),
                ],
            )
            .await;
        match inserted {
            Ok(_) => tx.commit().await?,
            Err(ProjectionError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                return Err(TokenError::NameTaken(name.to_owned()))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(NewToken {
            info: TokenInfo {
                name: name.to_owned(),
                role,
                created_at,
                revoked_at: None,
            },
            secret,
        })
    }

    /// Every token, live and revoked, by name then creation.
    pub async fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let rows = self
            .db
            .query(
                "SELECT name, role, created_at, revoked_at FROM api_tokens \
                 ORDER BY name, created_at",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let text = |i: usize| row.get(i).and_then(Value::as_str).map(str::to_owned);
                let role = text(1)
                    .and_then(|r| r.parse().ok())
                    .ok_or_else(|| ProjectionError::Query("api_tokens.role".to_owned()))?;
                Ok(TokenInfo {
                    name: text(0).unwrap_or_default(),
                    role,
                    created_at: text(2).unwrap_or_default(),
                    revoked_at: text(3),
                })
            })
            .collect()
    }

    /// Revokes the live token of this name.
    pub async fn revoke(&self, name: &str) -> Result<(), TokenError> {
        let mut tx = self.db.begin().await?;
        let revoked = tx
            .execute(
                "UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
                &[Value::from(Utc::now().to_rfc3339()), Value::from(name)],
            )
            .await?;
        if revoked == 0 {
            return Err(TokenError::NotFound(name.to_owned()));
        }
        tx.commit().await?;
        self.forget_all();
        Ok(())
    }

    /// The live token with this digest, if any (cached for [`CACHE_TTL`]).
    async fn authenticate(&self, digest: &str) -> Result<Option<Principal>, ProjectionError> {
        if let Some(found) = self.cached(digest) {
            return Ok(found);
        }
        let rows = self
            .db
            .query(
                "SELECT name, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                &[Value::from(digest)],
            )
            .await?;
        let found = rows.first().and_then(|row| {
            Some(Principal {
                name: row.first()?.as_str()?.to_owned(),
                role: row.get(1)?.as_str()?.parse().ok()?,
            })
        });
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(digest.to_owned(), (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    fn cached(&self, digest: &str) -> Option<Option<Principal>> {
        let cache = self.cache.lock().ok()?;
        let (found, at) = cache.get(digest)?;
        (at.elapsed() < CACHE_TTL).then(|| found.clone())
    }

    fn forget_all(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }
}

/// Whether `name` can name a token (and an actor `user:<name>`).
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

/// 32 bytes from the operating system's generator (two UUID v4s carry
/// 244 random bits; the version and variant bits are fixed, so they are
/// hashed together into 32 uniformly random-looking bytes).
fn random_bytes() -> Result<[u8; 32], TokenError> {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    if a == b {
        return Err(TokenError::Random("two draws were equal".to_owned()));
    }
    let mut hasher = Sha256::new();
    hasher.update(a.as_bytes());
    hasher.update(b.as_bytes());
    Ok(hasher.finalize().into())
}

/// The first column of the first row, as an integer (0 if none).
fn first_int(rows: &[Vec<Value>]) -> i64 {
    rows.first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("admin".parse::<Role>().is_err());
        assert!("CEO".parse::<Role>().is_err());
    }

    #[test]
    fn only_well_formed_tokens_are_looked_up() {
        let token = format!("{TOKEN_PREFIX}{}", "ab".repeat(32));
        assert_eq!(parse_token(&token), Some(digest(&token)));
        assert_eq!(parse_token(&token[..token.len() - 1]), None);
        assert_eq!(parse_token(&"ab".repeat(32)), None);
        assert_eq!(
            parse_token(&format!("{TOKEN_PREFIX}{}", "zz".repeat(32))),
            None
        );
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_bytes().expect("random");
        let b = random_bytes().expect("random");
        assert_ne!(a, b);
    }

    #[test]
    fn a_new_token_does_not_print_its_secret() {
        let token = NewToken {
            info: TokenInfo {
                name: "ceo".to_owned(),
                role: Role::Ceo,
                created_at: String::new(),
                revoked_at: None,
            },
            secret: "agt_secret".to_owned(),
        };
        assert!(!format!("{token:?}").contains("agt_secret"));
    }
}
