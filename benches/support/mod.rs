//! The pieces of the `rpc_throughput` benchmark, one concern per module; `request_create`
//! uses them too (the load generator, the report, the interference measure, countersign
//! itself).

// Each benchmark compiles this whole module and uses only part of it.
#![allow(dead_code)]

pub mod actions;
pub mod interference;
pub mod load;
pub mod machine;
pub mod report;
pub mod servers;
