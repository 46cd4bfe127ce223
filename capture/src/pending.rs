//! Packets held while a bus request for them is in flight, bounded by `max_pending`. Each has a token
//! (slot + sequence, so a late completion for a reused slot is recognised) and a deadline.

use std::time::Instant;

/// A reference to a held packet carried by its bus request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub slot: u32,
    pub seq: u64,
}

struct Cell<T> {
    seq: u64,
    /// The item and its deadline while held.
    item: Option<(Instant, T)>,
}

/// A bounded slab of held items.
pub struct Pending<T> {
    cells: Vec<Cell<T>>,
    free: Vec<u32>,
    next_seq: u64,
    len: usize,
}

impl<T> Pending<T> {
    pub fn new(capacity: usize) -> Pending<T> {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        let cells = (0..capacity).map(|_| Cell { seq: 0, item: None }).collect();
        Pending {
            cells,
            free: (0..u32::try_from(capacity).unwrap_or(u32::MAX))
                .rev()
                .collect(),
            next_seq: 1,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Holds `item` until `deadline`; `Err(item)` when full.
    pub fn insert(&mut self, item: T, deadline: Instant) -> Result<Token, T> {
        let Some(slot) = self.free.pop() else {
            return Err(item);
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        match self.cells.get_mut(slot as usize) {
            Some(c) => {
                c.seq = seq;
                c.item = Some((deadline, item));
            }
            None => return Err(item),
        }
        self.len += 1;
        Ok(Token { slot, seq })
    }

    /// Takes the item of `t` if it is still held.
    pub fn take(&mut self, t: Token) -> Option<T> {
        let c = self.cells.get_mut(t.slot as usize)?;
        if c.seq != t.seq {
            return None;
        }
        let (_, item) = c.item.take()?;
        self.free.push(t.slot);
        self.len -= 1;
        Some(item)
    }

    /// The item of `t` if it is still held.
    pub fn get(&self, t: Token) -> Option<&T> {
        let c = self.cells.get(t.slot as usize)?;
        c.item
            .as_ref()
            .filter(|_| c.seq == t.seq)
            .map(|(_, item)| item)
    }

    pub fn deadline(&self, t: Token) -> Option<Instant> {
        self.cells
            .get(t.slot as usize)
            .filter(|c| c.seq == t.seq)
            .and_then(|c| c.item.as_ref())
            .map(|(deadline, _)| *deadline)
    }

    /// Removes every item whose deadline is before `now` (a safety net: the bus call itself times out).
    pub fn expire(&mut self, now: Instant, mut f: impl FnMut(T)) {
        self.remove_if(|deadline| deadline < now, &mut f);
    }

    /// Removes everything (shutdown).
    pub fn drain(&mut self, mut f: impl FnMut(T)) {
        self.remove_if(|_| true, &mut f);
    }

    fn remove_if(&mut self, due: impl Fn(Instant) -> bool, f: &mut impl FnMut(T)) {
        if self.len == 0 {
            return;
        }
        for (i, c) in self.cells.iter_mut().enumerate() {
            if !c.item.as_ref().is_some_and(|(deadline, _)| due(*deadline)) {
                continue;
            }
            if let Some((_, item)) = c.item.take() {
                self.free.push(u32::try_from(i).unwrap_or(0));
                self.len -= 1;
                f(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bounded_and_tokens_are_not_reused() {
        let now = Instant::now();
        let mut p = Pending::new(2);
        let a = p.insert("a", now).unwrap_or_else(|_| panic!("full"));
        let _b = p.insert("b", now).unwrap_or_else(|_| panic!("full"));
        assert_eq!(p.insert("c", now), Err("c"));
        assert_eq!(p.take(a), Some("a"));
        assert_eq!(p.take(a), None);
        let c = p.insert("c", now).unwrap_or_else(|_| panic!("full"));
        assert_eq!(c.slot, a.slot);
        // The old token does not reach the new occupant.
        assert_eq!(p.take(a), None);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn get_and_expire() {
        let now = Instant::now();
        let mut p = Pending::new(4);
        let t = p
            .insert(1, now + Duration::from_millis(25))
            .unwrap_or_else(|_| panic!("full"));
        assert_eq!(p.get(t), Some(&1));
        assert_eq!(p.deadline(t), Some(now + Duration::from_millis(25)));
        assert_eq!(p.len(), 1);
        let _ = p.insert(2, now + Duration::from_secs(10));
        let mut out = Vec::new();
        p.expire(now + Duration::from_millis(30), |x| out.push(x));
        assert_eq!(out, vec![1]);
        assert_eq!(p.len(), 1);
        p.drain(|x| out.push(x));
        assert_eq!(out, vec![1, 2]);
        assert!(p.is_empty());
    }
}
