//! Adapters of the domain's security ports.
//!
//! * [`Argon2Hasher`] — Argon2id password hashing off the async executor.
//! * [`JwtCodec`] — HS256 access and refresh tokens.
//! * [`RandomSecrets`] — one-time codes and tokens and their SHA-256 digests.

mod password;
mod secrets;
mod token;

pub use password::{Argon2Hasher, Argon2Params};
pub use secrets::RandomSecrets;
pub use token::JwtCodec;
