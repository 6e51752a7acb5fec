//! An order-keeping parallel map for the pure, independent steps of a render: parsing
//! the templates of a chart tree and reading the heads of its manifests.
//!
//! Helm spreads a render over every core (Go's runtime and garbage collector); these
//! steps are where most of our time goes on big charts, and their items need nothing from
//! one another. Items are cut into contiguous chunks of about equal weight (bytes of
//! text), several per core, which the threads claim one at a time: this thread works too,
//! so on a loaded machine where a helper starts late it simply claims fewer chunks (or
//! none) instead of being waited for. Results are put back in input order, so the first
//! error in input order stays the first error.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Chunks per thread: enough for the threads to even out, few enough to stay cheap.
const CHUNKS_PER_THREAD: usize = 4;

/// Maps `f` over `items`, on up to one thread per core when the total `weight` reaches
/// `min_weight`; otherwise (or on a single core) on this thread. Helper threads get
/// `stack` bytes of stack, for the recursion of deeply nested input. A chunk whose
/// helper panicked is mapped again here, so every item gets its result.
pub fn map_weighted<T, R, F>(
    items: &[T],
    weight: impl Fn(&T) -> usize,
    min_weight: usize,
    stack: usize,
    f: F,
) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let total: usize = items.iter().map(&weight).sum();
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(4);
    if total < min_weight || workers < 2 || items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    let chunks = split(items, &weight, total.div_ceil(workers * CHUNKS_PER_THREAD));
    let next = AtomicUsize::new(0);
    // Claims chunks until none is left: (chunk index, its results).
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(chunk) = chunks.get(i) else {
                return done;
            };
            done.push((i, chunk.iter().map(&f).collect::<Vec<R>>()));
        }
    };
    let mut slots: Vec<Option<Vec<R>>> = chunks.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("helm-parallel".into())
                    .stack_size(stack)
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        for (i, results) in work() {
            slots[i] = Some(results);
        }
        for helper in helpers {
            for (i, results) in helper.join().unwrap_or_default() {
                slots[i] = Some(results);
            }
        }
    });
    let mut out = Vec::with_capacity(items.len());
    for (slot, chunk) in slots.into_iter().zip(&chunks) {
        match slot {
            Some(results) => out.extend(results),
            None => out.extend(chunk.iter().map(&f)),
        }
    }
    out
}

/// Contiguous chunks of `items` of about `target` weight each (at least one item).
fn split<'t, T>(items: &'t [T], weight: &impl Fn(&T) -> usize, target: usize) -> Vec<&'t [T]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        size += weight(item);
        if size >= target {
            chunks.push(&items[start..=i]);
            start = i + 1;
            size = 0;
        }
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_input_order() {
        let items: Vec<usize> = (0..1000).collect();
        let out = map_weighted(&items, |_| 10, 0, 1 << 20, |i| i * 2);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn uneven_weights_keep_order() {
        let items: Vec<usize> = (0..300).collect();
        let out = map_weighted(&items, |i| i % 17 * 1000, 0, 1 << 20, |i| i + 1);
        assert_eq!(out, items.iter().map(|i| i + 1).collect::<Vec<_>>());
    }

    #[test]
    fn small_inputs_stay_on_this_thread() {
        let here = std::thread::current().id();
        let out = map_weighted(
            &[1, 2, 3],
            |_| 1,
            100,
            1 << 20,
            |_| std::thread::current().id(),
        );
        assert!(out.iter().all(|id| *id == here));
    }
}
