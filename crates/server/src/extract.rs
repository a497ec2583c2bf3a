//! Request extractors that answer in the API's error format: the caller's token and role,
//! JSON bodies under the body cap (a malformed one names the field), query and path
//! parameters.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::tokens::Role;
use crate::{ApiError, AppState};

/// Who is calling: the role of their token, if they gave a valid one.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    role: Option<Role>,
    open_reads: bool,
}

impl Caller {
    /// Refuses unless the caller may act as `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), ApiError> {
        if role == Role::Read && self.open_reads {
            return Ok(());
        }
        match self.role {
            None => Err(ApiError::unauthorized(format!(
                "this needs a token with role {} or above: send `Authorization: Bearer th_…` (`tracehound token create`)",
                role.name()
            ))),
            Some(have) if have < role => Err(ApiError::forbidden(format!(
                "this needs role {}; the token has role {}",
                role.name(),
                have.name()
            ))),
            Some(_) => Ok(()),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let open_reads = state.config.open_reads;
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Caller {
                role: None,
                open_reads,
            });
        };
        // A token that is given must be valid, even where none is needed: a typo in a
        // token should not silently fall back to anonymous reads.
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must read `Bearer th_…`")
            })?;
        let state = Arc::clone(state);
        let token = token.to_string();
        let record = tokio::task::spawn_blocking(move || state.tokens.check(&token))
            .await
            .map_err(|_| ApiError::internal("checking the token failed"))?
            .map_err(|e| {
                tracing::warn!("tokens: {e}");
                ApiError::internal("the server could not read its tokens; see its log")
            })?;
        match record {
            Some(r) => Ok(Caller {
                role: Some(r.role),
                open_reads,
            }),
            None => Err(ApiError::unauthorized(
                "the token is not valid (revoked or mistyped)",
            )),
        }
    }
}

/// The request's body, refused past `cap` bytes.
async fn capped_body(req: Request, cap: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), cap)
        .await
        .map_err(|_| {
            ApiError::cap(
                "body",
                format!("the request body is over the cap of {cap} bytes"),
            )
        })
}

/// A JSON body, read up to the body cap.
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let cap = state.config.caps.body_bytes;
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::bad_request(
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = capped_body(req, cap).await?;
        // Every body of the API is an object; serde would also read a struct's fields, in
        // order, from an array, which the schema does not allow.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad_request("the JSON body must be an object"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(Body(v)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let err = ApiError::bad_request(format!("the JSON body is not valid: {inner}"));
                Err(if path == "." { err } else { err.field(&path) })
            }
        }
    }
}

/// A text body (an uploaded file), read up to the body cap.
pub(crate) struct Text(pub(crate) String);

impl FromRequest<Arc<AppState>> for Text {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let cap = state.config.caps.body_bytes;
        let bytes = capped_body(req, cap).await?;
        String::from_utf8(bytes.to_vec()).map(Text).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ))
            .field("body")
        })
    }
}

/// Query parameters.
pub(crate) struct Params<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or_default();
        query_of(q).map(Params)
    }
}

fn query_of<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::bad_request("the query string is not valid"))?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| ApiError::bad_request(format!("query parameters: {}", e.body_text())))
}

/// Path parameters.
pub(crate) struct PathParams<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| PathParams(v))
            .map_err(|e| ApiError::bad_request(format!("path: {}", e.body_text())))
    }
}

/// A role a write needs, as a type (so the check is an extractor, run before the body is
/// read: a refused write never gets as far as parsing).
pub(crate) trait Needed {
    const ROLE: Role;
}

/// Role analyst or above.
pub(crate) struct AnalystRole;
impl Needed for AnalystRole {
    const ROLE: Role = Role::Analyst;
}

/// Role admin.
pub(crate) struct AdminRole;
impl Needed for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// A caller whose token has role `R::ROLE` or above.
pub(crate) struct Writer<R>(std::marker::PhantomData<R>);

impl<R: Needed + Send> FromRequestParts<Arc<AppState>> for Writer<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Caller::from_request_parts(parts, state)
            .await?
            .require(R::ROLE)?;
        Ok(Writer(std::marker::PhantomData))
    }
}

/// An analyst's write.
pub(crate) type Analyst = Writer<AnalystRole>;
/// An admin's write.
pub(crate) type Admin = Writer<AdminRole>;

/// An integer body field that also takes an integral float (`12.0`): JSON has one number
/// type, and JSON Schema calls 12.0 an integer.
pub(crate) fn integer<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize as _;
    let n = serde_json::Number::deserialize(d)?;
    let whole = match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => Some(u),
        (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Some(f as u64),
        _ => None,
    };
    whole
        .and_then(|u| T::try_from(u).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number in range")))
}

/// [`integer`] for an optional field (`null` or absent: none).
pub(crate) fn integer_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize as _;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => integer(serde_json::Value::Number(n))
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}
