//! Contract tests: channels.

#[allow(unused_imports)]
use crate::common::*;
