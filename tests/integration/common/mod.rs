//! Helpers shared by the integration tests. The test modules use them with `use crate::common;`.

// Each test binary compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

pub mod generator;
pub mod load;
pub mod plan_cases;
pub mod remote;
pub mod sandbox;

pub use sandbox::Sandbox;
