//! Decode benchmarks (being written).
fn main() {}
