//! The fleet's metrics, for the control plane's CloudWatch dashboard: written by the
//! functions as CloudWatch embedded metric format (EMF) lines on stdout, which Lambda's log
//! delivery turns into metrics with no API call and no IAM permission. Outside Lambda
//! (local mode, tests) they go to the log at debug level, or to a recorder.
//!
//! Each [`Metric`] is declared once, in `functions::metrics`: the dashboard
//! (`stacks::control_plane`) draws what they say, in the namespace [`namespace`] names, and a
//! test holds the two equal.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use crate::functions::metrics::*;

/// Where the lines go.
#[derive(Clone, Debug)]
enum Sink {
    /// Lambda: stdout, one JSON document per line.
    Stdout,
    /// Anywhere else: the log, at debug level.
    Log,
    /// A test's recorder.
    Memory(Arc<Mutex<Vec<Value>>>),
}

/// The writer of the fleet's metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    namespace: String,
    sink: Sink,
}

impl Metrics {
    /// On Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) to stdout, else to the log.
    pub fn new(prefix: &str) -> Metrics {
        let sink = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            Sink::Stdout
        } else {
            Sink::Log
        };
        Metrics {
            namespace: namespace(prefix),
            sink,
        }
    }

    /// Keeping every document written, for a test to read ([`recorded`](Self::recorded)).
    pub fn recording(prefix: &str) -> Metrics {
        Metrics {
            namespace: namespace(prefix),
            sink: Sink::Memory(Arc::default()),
        }
    }

    /// The documents written so far, if recording.
    pub fn recorded(&self) -> Vec<Value> {
        match &self.sink {
            Sink::Memory(m) => m.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            _ => Vec::new(),
        }
    }

    /// Writes `value` of `metric`, with its dimension's value if it has one.
    pub fn put(&self, metric: Metric, dimension: Option<&str>, value: f64) {
        let document = self.document(metric, dimension, value, now_millis());
        match &self.sink {
            Sink::Stdout => println!("{document}"),
            Sink::Log => tracing::debug!(emf = %document, "metric"),
            Sink::Memory(m) => m.lock().unwrap_or_else(|e| e.into_inner()).push(document),
        }
    }

    /// The EMF document: `_aws` says which of its members are metrics, in which namespace,
    /// by which dimensions.
    pub fn document(
        &self,
        metric: Metric,
        dimension: Option<&str>,
        value: f64,
        timestamp: u64,
    ) -> Value {
        let dimensions: Vec<&str> = match (metric.dimension, dimension) {
            (Some(name), Some(_)) => vec![name],
            _ => Vec::new(),
        };
        let mut document = json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions],
                    "Metrics": [{"Name": metric.name, "Unit": metric.unit}],
                }],
            },
            metric.name: value,
        });
        if let (Some(name), Some(v)) = (metric.dimension, dimension) {
            document[name] = json!(v);
        }
        document
    }
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_embedded_metric_format() {
        let m = Metrics::recording("acme");
        let d = m.document(TENANTS, Some("running"), 12.0, 1_700_000_000_000);
        assert_eq!(
            d,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Silos/acme",
                        "Dimensions": [["Status"]],
                        "Metrics": [{"Name": "Tenants", "Unit": "Count"}],
                    }],
                },
                "Tenants": 12.0,
                "Status": "running",
            })
        );
        // No dimension: one empty dimension set, as EMF wants for a metric without.
        let d = m.document(ALARMS_FIRED, None, 1.0, 1);
        assert_eq!(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
        m.put(FAILURES, Some("create"), 1.0);
        assert_eq!(m.recorded()[0]["Operation"], "create");
    }

    #[test]
    fn the_tenant_count_covers_every_status_but_deleted() {
        use crate::control_plane::tenant::Status;
        let statuses: Vec<&str> = Status::ALL
            .into_iter()
            .filter(|s| *s != Status::Deleted)
            .map(Status::as_str)
            .collect();
        assert_eq!(dimension_values(TENANTS), statuses.as_slice());
    }

    #[test]
    fn every_dimension_has_its_values() {
        for metric in ALL {
            assert_eq!(
                metric.dimension.is_some(),
                !dimension_values(metric).is_empty(),
                "{}",
                metric.name
            );
        }
    }
}
