//! The pieces of the `rpc_throughput` benchmark, one concern per module; `request_create`
//! uses them too (the load generator, the report, the interference measure, countersign
//! itself), and so do `openloop`, `whoami` and `growth` (the raw HTTP/1.1 client, the
//! open-loop generator, countersign in a server process, PostgreSQL databases).

// Each benchmark compiles this whole module and uses only part of it.
#![allow(dead_code)]

pub mod actions;
pub mod backend;
pub mod child;
pub mod http1;
pub mod interference;
pub mod load;
pub mod machine;
pub mod openloop;
pub mod pg;
pub mod report;
pub mod servers;
pub mod settings;
