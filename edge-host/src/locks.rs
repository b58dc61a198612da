//! Per-customer serialisation: requests for one customer run one at a time (read memory,
//! evaluate, commit), requests for different customers run in parallel.
//!
//! A map from customer id to a slot (a flag and a condition variable). A slot exists only
//! while someone holds or waits for it, so the map stays as small as the number of customers
//! being served at the moment.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

#[derive(Default)]
struct Slot {
    locked: Mutex<bool>,
    freed: Condvar,
}

/// Locks keyed by customer id.
#[derive(Default)]
pub struct KeyedLocks {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// Held while a customer's request runs; released on drop.
pub struct KeyGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    slot: Arc<Slot>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short critical sections cannot leave the data
    // inconsistent (a flag, a map of slots), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyedLocks {
    /// Waits until no one else holds `key`, then holds it.
    pub fn lock(&self, key: &str) -> KeyGuard<'_> {
        let slot = lock(&self.slots)
            .entry(key.to_string())
            .or_default()
            .clone();
        let mut locked = lock(&slot.locked);
        while *locked {
            locked = slot
                .freed
                .wait(locked)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *locked = true;
        drop(locked);
        KeyGuard {
            locks: self,
            key: key.to_string(),
            slot,
        }
    }

    /// Ids currently held or waited for.
    pub fn active(&self) -> usize {
        lock(&self.slots).len()
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.slot.locked) = false;
        self.slot.freed.notify_one();
        let mut slots = lock(&self.locks.slots);
        // Slots are cloned only under the map's lock: 2 references (the map's and ours)
        // means no one else holds or waits for this key.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn one_key_is_serialised_and_slots_are_freed() {
        let locks = Arc::new(KeyedLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (locks, inside, max) = (locks.clone(), inside.clone(), max.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let _g = locks.lock("c1");
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(50));
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(max.load(Ordering::SeqCst), 1);
        assert_eq!(locks.active(), 0);
    }

    #[test]
    fn different_keys_proceed_in_parallel() {
        let locks = KeyedLocks::default();
        let a = locks.lock("a");
        let b = locks.lock("b"); // would deadlock if keys shared a lock
        assert_eq!(locks.active(), 2);
        drop((a, b));
        assert_eq!(locks.active(), 0);
    }
}
