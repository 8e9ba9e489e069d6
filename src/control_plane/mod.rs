//! The control plane runtime. So far: the tenant model and its status machine, which the API,
//! the provisioner and the stack-events handler share. Uses `blueprint` and (later) `aws`;
//! never `cfn`, `constructs` or `deploy`.

pub mod store;
pub mod tenant;
