//! Interning tables: each distinct string (or observer key) is stored once and referred to
//! by a `u32`, so millions of observations carry 4-byte ids instead of strings.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// The id meaning "no value".
pub(crate) const NONE: u32 = u32::MAX;

/// Distinct strings, each stored once; ids are dense, in order of first appearance.
///
/// A table entry packs 32 bits of the string's hash with its id, so growing the table
/// rehashes from the entries alone: with millions of paths, re-hashing every string on a
/// resize would hold the store's write lock for a few hundred milliseconds.
///
/// The strings live back to back in one buffer (`ends[i]` is where string `i` ends), so
/// two million paths are two allocations, not two million.
#[derive(Default)]
pub(crate) struct StrInterner {
    bytes: String,
    ends: Vec<u32>,
    table: HashTable<u64>,
    hasher: foldhash::fast::FixedState,
}

impl StrInterner {
    /// The id of `text`, adding it when new.
    pub(crate) fn intern(&mut self, text: &str) -> u32 {
        let (hash, h32) = self.hash(text);
        if let Some(id) = self.find(hash, h32, text) {
            return id;
        }
        let id = u32::try_from(self.ends.len()).unwrap_or(NONE);
        let Ok(end) = u32::try_from(self.bytes.len() + text.len()) else {
            // Past 4 GiB of distinct text: stop interning (the value reads as absent).
            return NONE;
        };
        if id >= NONE - 1 {
            return NONE;
        }
        self.bytes.push_str(text);
        self.ends.push(end);
        self.table
            .insert_unique(hash, (h32 << 32) | u64::from(id), |&e| spread(e >> 32));
        id
    }

    /// The id of `text` if it was interned.
    pub(crate) fn get(&self, text: &str) -> Option<u32> {
        let (hash, h32) = self.hash(text);
        self.find(hash, h32, text)
    }

    fn hash(&self, text: &str) -> (u64, u64) {
        let h32 = self.hasher.hash_one(text) >> 32;
        (spread(h32), h32)
    }

    fn find(&self, hash: u64, h32: u64, text: &str) -> Option<u32> {
        self.table
            .find(hash, |&e| {
                e >> 32 == h32 && self.resolve((e & 0xffff_ffff) as u32) == text
            })
            .map(|&e| (e & 0xffff_ffff) as u32)
    }

    /// The string of `id` (empty for [`NONE`] or an unknown id).
    pub(crate) fn resolve(&self, id: u32) -> &str {
        let Some(&end) = self.ends.get(id as usize) else {
            return "";
        };
        let start = match id.checked_sub(1) {
            Some(prev) => self.ends[prev as usize],
            None => 0,
        };
        self.bytes.get(start as usize..end as usize).unwrap_or("")
    }

    /// Number of distinct strings.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Bytes allocated by this table.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * 4 + self.table.allocation_size()
    }
}

/// Many short `u32` lists stored back to back: list `i` is `data[ends[i-1]..ends[i]]`.
/// Two allocations however many lists.
#[derive(Default)]
pub(crate) struct FlatLists {
    data: Vec<u32>,
    ends: Vec<u32>,
}

impl FlatLists {
    /// Appends a list; returns its index.
    pub(crate) fn push(&mut self, items: impl IntoIterator<Item = u32>) -> usize {
        self.data.extend(items);
        self.ends
            .push(u32::try_from(self.data.len()).unwrap_or(u32::MAX));
        self.ends.len() - 1
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        let end = self.ends.get(i).map_or(0, |&e| e as usize);
        let start = match i.checked_sub(1) {
            Some(prev) => self.ends.get(prev).map_or(0, |&e| e as usize),
            None => 0,
        };
        start.min(end)..end
    }

    /// List `i` (empty when out of range).
    pub(crate) fn get(&self, i: usize) -> &[u32] {
        let r = self.range(i);
        self.data.get(r).unwrap_or(&[])
    }

    /// List `i`, mutable.
    pub(crate) fn get_mut(&mut self, i: usize) -> &mut [u32] {
        let r = self.range(i);
        self.data.get_mut(r).unwrap_or(&mut [])
    }

    /// Bytes allocated.
    pub(crate) fn allocated_bytes(&self) -> usize {
        (self.data.capacity() + self.ends.capacity()) * 4
    }

    /// Number of lists.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The lists from index `first` on, in order (one sequential pass over the storage).
    pub(crate) fn iter_from(&self, first: usize) -> impl Iterator<Item = &[u32]> + '_ {
        let mut start = first
            .checked_sub(1)
            .and_then(|i| self.ends.get(i))
            .map_or(0, |&e| e as usize);
        self.ends.iter().skip(first).map(move |&end| {
            let end = end as usize;
            let list = self.data.get(start.min(end)..end).unwrap_or(&[]);
            start = end;
            list
        })
    }
}

/// A full-width table hash from 32 hash bits (the table uses both the low and the high
/// bits).
fn spread(h32: u64) -> u64 {
    h32 | (h32 << 32)
}

/// Distinct observer keys (`observations.observer_idx`), each mapped to a dense `u32`.
#[derive(Default)]
pub(crate) struct KeyInterner {
    keys: Vec<i64>,
    ids: hashbrown::HashMap<i64, u32>,
}

impl KeyInterner {
    /// The id of `key`, adding it when new.
    pub(crate) fn intern(&mut self, key: i64) -> u32 {
        let next = u32::try_from(self.keys.len()).unwrap_or(NONE - 1);
        let id = *self.ids.entry(key).or_insert(next);
        if id == next {
            self.keys.push(key);
        }
        id
    }

    /// The id of `key` if it was interned.
    pub(crate) fn get(&self, key: i64) -> Option<u32> {
        self.ids.get(&key).copied()
    }

    /// The key of `id`.
    pub(crate) fn resolve(&self, id: u32) -> Option<i64> {
        self.keys.get(id as usize).copied()
    }

    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Bytes allocated by this table.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<i64>() + self.ids.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_lists_iterate_from_any_index() {
        let mut lists = FlatLists::default();
        lists.push([1, 2]);
        lists.push([]);
        lists.push([3]);
        lists.push([4, 5, 6]);
        assert_eq!(lists.len(), 4);
        let from = |i| lists.iter_from(i).map(<[u32]>::to_vec).collect::<Vec<_>>();
        assert_eq!(from(0), vec![vec![1, 2], vec![], vec![3], vec![4, 5, 6]]);
        assert_eq!(from(2), vec![vec![3], vec![4, 5, 6]]);
        assert_eq!(from(3), vec![vec![4, 5, 6]]);
        assert!(from(4).is_empty());
        assert!(from(9).is_empty());
    }

    #[test]
    fn strings_are_stored_once_and_resolve_back() {
        let mut interner = StrInterner::default();
        let a = interner.intern("[\"AB\",\"CD\"]");
        let b = interner.intern("#public");
        assert_eq!(interner.intern("[\"AB\",\"CD\"]"), a);
        assert_ne!(a, b);
        assert_eq!(interner.resolve(b), "#public");
        assert_eq!(interner.get("#public"), Some(b));
        assert_eq!(interner.get("#other"), None);
        assert_eq!(interner.resolve(NONE), "");
        assert_eq!(interner.len(), 2);
        let many: Vec<u32> = (0..1000).map(|i| interner.intern(&i.to_string())).collect();
        assert!(
            many.iter()
                .enumerate()
                .all(|(i, &id)| interner.resolve(id) == i.to_string())
        );
    }

    #[test]
    fn flat_lists_keep_each_list_apart() {
        let mut lists = FlatLists::default();
        assert_eq!(lists.push([1, 2]), 0);
        assert_eq!(lists.push([]), 1);
        assert_eq!(lists.push([7]), 2);
        assert_eq!(lists.get(0), &[1, 2]);
        assert!(lists.get(1).is_empty());
        lists.get_mut(2)[0] = 9;
        assert_eq!(lists.get(2), &[9]);
        assert!(lists.get(3).is_empty());
    }

    #[test]
    fn observer_keys_map_to_dense_ids() {
        let mut keys = KeyInterner::default();
        assert_eq!(keys.intern(77), 0);
        assert_eq!(keys.intern(5), 1);
        assert_eq!(keys.intern(77), 0);
        assert_eq!(keys.resolve(1), Some(5));
        assert_eq!(keys.get(9), None);
        assert_eq!(keys.len(), 2);
    }
}
