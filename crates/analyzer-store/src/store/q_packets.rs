//! Store queries behind the packets endpoints. A child module of `store`, so it reads
//! `StoreData` directly under the read lock.

#[allow(unused_imports)]
use super::*;
