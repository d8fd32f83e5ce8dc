//! The last N complete lines of a pane plus the line being written: the only
//! source for `capture`, `wait-for --since` and prompt checks. Lines arrive from
//! [`super::screen`] through [`super::watch::PaneWatch`], already stripped and
//! bounded in length, so the ring's memory is bounded by
//! `(capacity + 1) × screen::MAX_LINE_BYTES`.
//!
//! PERF: the complete lines live in a fixed array of slots used circularly, and
//! completing a line swaps the partial line's `String` into its slot, taking back
//! the evicted line's `String` (cleared, capacity kept) as the new partial line:
//! once the ring is full no line allocates, and completing one is a swap, a clear
//! and an index step (no `VecDeque` push/pop).

/// Last N complete lines (default 50) + the line being written.
#[derive(Clone, Debug)]
pub struct Ring {
    /// Complete lines in a circle, one per slot: `slots[head]` is the oldest.
    /// Grows to `capacity` slots while the ring fills (`head` stays 0), never beyond.
    slots: Vec<String>,
    /// Index of the oldest complete line in `slots`.
    head: usize,
    /// The line being written (no line end yet).
    partial: String,
    /// Most complete lines kept.
    capacity: usize,
    /// Lines ever completed.
    total: u64,
}

impl Default for Ring {
    fn default() -> Ring {
        Ring::new(Ring::DEFAULT_CAPACITY)
    }
}

impl Ring {
    /// Complete lines kept when the configuration does not say.
    pub const DEFAULT_CAPACITY: usize = 50;

    /// An empty ring keeping the last `capacity` complete lines (0 keeps only the
    /// partial line).
    pub fn new(capacity: usize) -> Ring {
        Ring {
            // Grows to `capacity` as lines arrive, nothing up front. PERF: a quiet pane
            // holds its few lines, not 1,000 empty slots (24 KB per pane before, a third
            // of an idle pane's heap; the push loop doubles it, amortised).
            slots: Vec::new(),
            head: 0,
            partial: String::new(),
            capacity,
            total: 0,
        }
    }

    /// Most complete lines kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Complete lines, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        let (wrapped, first) = self.slots.split_at(self.head);
        first.iter().chain(wrapped).map(String::as_str)
    }

    /// The last `n` lines, oldest first; the line being written, if not empty, is the
    /// last of them.
    pub fn last_lines(&self, n: usize) -> Vec<String> {
        // The line being written is one of the `n`.
        let complete = n.saturating_sub(usize::from(!self.partial.is_empty()));
        let skip = self.slots.len().saturating_sub(complete);
        let mut out: Vec<String> = self.lines().skip(skip).map(str::to_string).collect();
        if !self.partial.is_empty() && n > 0 {
            out.push(self.partial.clone());
        }
        out
    }

    /// The line being written.
    pub fn partial(&self) -> &str {
        &self.partial
    }

    /// How many lines were ever completed: the sequence number of the newest
    /// complete line (lines are numbered from 1).
    pub fn total_lines(&self) -> u64 {
        self.total
    }

    /// Heap bytes held by the lines and the partial line (capacities, so recycled
    /// buffers count): what tests use to check the ring stays bounded.
    pub fn heap_bytes(&self) -> usize {
        self.slots.iter().map(String::capacity).sum::<usize>()
            + self.partial.capacity()
            + self.slots.capacity() * std::mem::size_of::<String>()
    }

    /// The line being written, for the screen to append to.
    pub(crate) fn partial_mut(&mut self) -> &mut String {
        &mut self.partial
    }

    /// Completes the partial line: it becomes the newest complete line (evicting the
    /// oldest when full) and a new, empty partial line starts.
    pub(crate) fn complete_line(&mut self) {
        self.total += 1;
        if self.capacity == 0 {
            self.partial.clear();
            return;
        }
        if self.slots.len() < self.capacity {
            // Filling: a new slot; the next partial line starts without a buffer.
            self.slots.push(std::mem::take(&mut self.partial));
            return;
        }
        // Full (`capacity` slots, all in use): the oldest slot becomes the
        // newest line and its old buffer the next partial line.
        std::mem::swap(&mut self.slots[self.head], &mut self.partial);
        self.partial.clear();
        self.head += 1;
        if self.head == self.capacity {
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(r: &mut Ring, s: &str) {
        r.partial_mut().push_str(s);
        r.complete_line();
    }

    #[test]
    fn capacity_respected_and_total_counts() {
        let mut r = Ring::new(3);
        for i in 0..10 {
            push(&mut r, &format!("line {i}"));
        }
        assert_eq!(r.lines().collect::<Vec<_>>(), ["line 7", "line 8", "line 9"]);
        // The oldest line sits mid-array after the wrap; order is still oldest first.
        assert_eq!(r.last_lines(2), ["line 8", "line 9"]);
        push(&mut r, "line 10");
        assert_eq!(r.lines().collect::<Vec<_>>(), ["line 8", "line 9", "line 10"]);
        assert_eq!(r.total_lines(), 11);
        assert_eq!(r.capacity(), 3);
    }

    #[test]
    fn last_lines_with_and_without_partial() {
        let mut r = Ring::default();
        assert_eq!(r.capacity(), 50);
        for i in 0..5 {
            push(&mut r, &format!("l{i}"));
        }
        assert_eq!(r.last_lines(2), ["l3", "l4"]);
        assert_eq!(r.last_lines(100).len(), 5);
        r.partial_mut().push_str("Password: ");
        assert_eq!(r.partial(), "Password: ");
        assert_eq!(r.last_lines(3), ["l3", "l4", "Password: "]);
        assert_eq!(r.last_lines(1), ["Password: "]);
        assert!(r.last_lines(0).is_empty());
    }

    #[test]
    fn zero_capacity_keeps_partial_only() {
        let mut r = Ring::new(0);
        push(&mut r, "a");
        r.partial_mut().push('b');
        assert_eq!(r.lines().count(), 0);
        assert_eq!(r.total_lines(), 1);
        assert_eq!(r.last_lines(5), ["b"]);
    }

    #[test]
    fn full_ring_recycles_buffers() {
        let mut r = Ring::new(4);
        for _ in 0..8 {
            push(&mut r, &"x".repeat(100));
        }
        let before = r.heap_bytes();
        for _ in 0..1000 {
            push(&mut r, &"y".repeat(100));
        }
        assert_eq!(r.heap_bytes(), before, "steady state must not grow");
        assert_eq!(r.lines().last(), Some("y".repeat(100).as_str()));
    }
}
