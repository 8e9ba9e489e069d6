//! silos: a typed CloudFormation DSL, a deployer and a multi-tenant control plane for the
//! Serverless Silos architecture. See ARCHITECTURE.md for the map.

pub mod cfn;
pub mod constructs;
pub mod stacks;
pub mod blueprint;
pub mod synth;
pub mod cli;
