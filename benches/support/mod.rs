//! The pieces of the `rpc_throughput` benchmark, one concern per module.

pub mod actions;
pub mod interference;
pub mod load;
pub mod machine;
pub mod report;
pub mod servers;
