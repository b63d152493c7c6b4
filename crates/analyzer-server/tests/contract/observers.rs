//! Contract tests: observers.

#[allow(unused_imports)]
use crate::common::*;
