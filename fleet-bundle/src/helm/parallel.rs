//! An order-keeping parallel map for the pure, independent steps of a render: parsing
//! the templates of a chart tree and reading the heads of its manifests.
//!
//! Helm spreads a render over every core (Go's runtime and garbage collector); these
//! steps are where most of our time goes on big charts, and their items need nothing from
//! one another. Items are cut into contiguous chunks of about equal weight (bytes of text),
//! one per core, so the results come back in input order by concatenation and the first
//! error in input order stays the first error.

/// Maps `f` over `items`, on up to one thread per core when the total `weight` reaches
/// `min_weight`; otherwise (or on a single core) on this thread. Helper threads get
/// `stack` bytes of stack, for the recursion of deeply nested input. A chunk whose
/// thread cannot start or panics is mapped again here, so every item gets its result.
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
    let target = total.div_ceil(workers);
    let mut chunks: Vec<&[T]> = Vec::new();
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
    let f = &f;
    std::thread::scope(|scope| {
        // The first chunk runs on this thread while the others run on helpers.
        let (first, rest) = chunks
            .split_first()
            .map_or((&[][..], &[][..]), |(a, b)| (*a, b));
        let handles: Vec<_> = rest
            .iter()
            .map(|chunk| {
                std::thread::Builder::new()
                    .name("helm-parallel".into())
                    .stack_size(stack)
                    .spawn_scoped(scope, move || chunk.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        for (handle, chunk) in handles.into_iter().zip(rest) {
            match handle
                .map_err(|_| ())
                .and_then(|h| h.join().map_err(|_| ()))
            {
                Ok(results) => out.extend(results),
                Err(()) => out.extend(chunk.iter().map(f)),
            }
        }
        out
    })
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
