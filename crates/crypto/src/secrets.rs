//! One-time codes and tokens from the OS-seeded CSPRNG, stored as SHA-256 digests.

use coffee_domain::security::OneTimeSecrets;
use rand::Rng;
use sha2::{Digest, Sha256};

/// [`OneTimeSecrets`] backed by `rand`'s thread-local CSPRNG (ChaCha, seeded
/// and periodically reseeded from the operating system).
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomSecrets;

impl OneTimeSecrets for RandomSecrets {
    /// Six decimal digits, uniform over `000000..=999999`.
    fn code(&self) -> String {
        format!("{:06}", rand::rng().random_range(0..1_000_000_u32))
    }

    /// 32 random bytes (256 bits) as 64 lower-case hex characters.
    fn token(&self) -> String {
        let bytes: [u8; 32] = rand::rng().random();
        hex::encode(bytes)
    }

    /// SHA-256 of the secret's UTF-8 bytes, as 64 lower-case hex characters.
    fn digest(&self, secret: &str) -> String {
        hex::encode(Sha256::digest(secret.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_ascii_digits() {
        for _ in 0..1000 {
            let code = RandomSecrets.code();
            assert_eq!(code.len(), 6, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn tokens_are_64_hex_characters_and_differ() {
        let (a, b) = (RandomSecrets.token(), RandomSecrets.token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn digests_are_stable_sha256_hex() {
        let d = RandomSecrets.digest("042917");
        assert_eq!(d, RandomSecrets.digest("042917"));
        assert_eq!(d.len(), 64);
        assert_ne!(d, RandomSecrets.digest("042918"));
        assert_eq!(RandomSecrets.digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
