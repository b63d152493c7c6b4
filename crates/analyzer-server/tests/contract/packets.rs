//! Contract tests: packets.

#[allow(unused_imports)]
use crate::common::*;
