//! Integration tests of the decoder, compiled into one test binary: the spec vectors, hand-built
//! frames per payload layout, and never-panic properties.

mod layouts;
mod properties;
mod vectors;
