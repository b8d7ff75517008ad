//! Random ids (request ids, extension ids, trace ids) without a system call per id: version-4
//! UUIDs from SipHash of a counter under random keys (the standard library's `RandomState`,
//! seeded once from the operating system).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static KEYS: OnceLock<(RandomState, RandomState)> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 128 random-looking bits.
fn bits() -> [u8; 16] {
    let (a, b) = KEYS.get_or_init(|| (RandomState::new(), RandomState::new()));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.hash_one(n).to_le_bytes());
    bytes[8..].copy_from_slice(&b.hash_one(n).to_le_bytes());
    bytes
}

/// A new version-4 UUID.
pub(crate) fn uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(bits()).into_uuid()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| super::uuid().to_string()).collect();
        assert_eq!(ids.len(), 10_000);
        let one = super::uuid();
        assert_eq!(one.get_version_num(), 4);
        assert_eq!(one.get_variant(), uuid::Variant::RFC4122);
    }
}
