//! Realistic cluster label distributions: a few environments with skewed sizes, regions,
//! zones, hardware classes and customer tiers, so that the number of distinct label sets
//! (what the manager computes desired state for) grows the way real fleets do.

use std::collections::BTreeMap;

/// The labels of simulated cluster number `i` (deterministic, so runs are comparable).
pub fn for_cluster(i: usize) -> BTreeMap<String, String> {
    // A small multiplicative hash spreads consecutive ids over the buckets.
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let pick = |shift: u32, n: u64| ((h >> shift) % n) as usize;
    let env = match pick(0, 10) {
        0..=5 => "prod",
        6..=7 => "staging",
        _ => "dev",
    };
    let regions = [
        "eu-west",
        "eu-central",
        "us-east",
        "us-west",
        "ap-south",
        "ap-east",
        "sa-east",
        "af-south",
    ];
    let region = regions[pick(8, regions.len() as u64)];
    let zone = format!("{region}-{}", ["a", "b", "c"][pick(16, 3)]);
    let hardware = ["x86-small", "x86-large", "arm-edge", "gpu"][pick(24, 4)];
    let tier = ["gold", "silver", "bronze"][pick(32, 3)];
    BTreeMap::from([
        ("env".to_string(), env.to_string()),
        ("region".to_string(), region.to_string()),
        ("zone".to_string(), zone),
        ("hardware".to_string(), hardware.to_string()),
        ("tier".to_string(), tier.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn distribution_is_deterministic_and_skewed() {
        assert_eq!(for_cluster(42), for_cluster(42));
        let n = 10_000;
        let prod = (0..n).filter(|&i| for_cluster(i)["env"] == "prod").count();
        assert!((5_000..7_000).contains(&prod), "about 60% prod, got {prod}");
        let distinct: BTreeSet<_> = (0..n).map(for_cluster).collect();
        assert!(
            distinct.len() > 200 && distinct.len() < 2_000,
            "{} distinct label sets",
            distinct.len()
        );
    }
}
