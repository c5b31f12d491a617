//! [`TokenKey`]: the keyed hash under which verified tokens and
//! introspection answers are cached, and [`TokenHasher`], its per-`Validator`
//! random key. The token itself is never stored.

use siphasher::sip128::SipHasher13;

/// The key of the verified-token cache and of the introspection caches: a
/// 128-bit SipHash-1-3 of the token bytes under a random per-`Validator` key.
///
/// What the key must guarantee: nobody can get a cache hit for a token that
/// did not verify, i.e. produce a token `t' != t` whose key equals that of a
/// cached `t` (their own valid token, or one they never saw). The hash key is
/// drawn at random per `Validator` and neither it nor any hash value ever
/// leaves the process: an attacker sees only "hit or miss", and a hit only on
/// success. A forgery is therefore a blind second preimage of a keyed PRF,
/// 2^-128 per attempt (times the number of cached entries), unless SipHash-1-3
/// had a key-independent differential more likely than that; the published
/// differential cryptanalysis (Dobraunig, Mendel and Schläffer, 2014) finds
/// internal-collision characteristics only far less likely. That SipHash is
/// not collision-resistant for someone who holds the key does not matter here.
///
/// Measured alternatives on a 1.5 KiB token (`cargo bench -p auth --bench
/// validate`, group `cache_key`, three runs): keyed BLAKE3 about 4x slower (a
/// 1.5 KiB input is two chunks, too short for its SIMD parallelism), SHA-256
/// with SHA-NI 2.5-3x, SipHash-2-4 about 2x. A hash-table hash (foldhash)
/// plus storing the token and comparing it on a hit is 3-4x faster still, but
/// it keeps every cached bearer token in memory (up to 10 000 x 8 KiB), and a
/// plain comparison against a secret leaks its matching prefix through timing;
/// a constant-time comparison gives the speed back.
pub(crate) type TokenKey = [u8; 16];

/// Computes [`TokenKey`]s under a key drawn at random when it is built; the
/// key is never printed or exposed.
pub(crate) struct TokenHasher(SipHasher13);

impl TokenHasher {
    /// A hasher under a fresh random key.
    pub(crate) fn random() -> Self {
        TokenHasher(SipHasher13::new_with_key(&rand::random()))
    }

    /// The cache key of `token`.
    pub(crate) fn key(&self, token: &str) -> TokenKey {
        self.0.hash(token.as_bytes()).as_bytes()
    }
}
