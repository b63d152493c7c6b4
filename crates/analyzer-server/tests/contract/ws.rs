//! Contract tests: ws.

#[allow(unused_imports)]
use crate::common::*;
