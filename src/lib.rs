//! silos: a typed CloudFormation DSL, a deployer and a multi-tenant control plane for the
//! Serverless Silos architecture. See ARCHITECTURE.md for the map.

// Errors carry their context (stack, logical IDs, file and line) by design, and are returned
// only on cold paths: their size costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod aws;
pub mod blueprint;
pub use silos_cfn as cfn;
pub mod cli;
pub mod constructs;
pub mod control_plane;
pub mod deploy;
pub mod fleet;
pub mod functions;
pub mod lambda;
pub mod local;
pub mod stacks;
pub mod synth;
pub mod tenant_function;

pub use stacks::App;
