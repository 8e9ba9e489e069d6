use crate::cfn::lambda::{EventSourceMapping, event_source_mapping as esm};
use crate::cfn::{Expr, Template};

use super::{Function, Queue, Table, count};

/// A Lambda function subscribed to a table's stream: filtered, reporting batch item failures,
/// bisecting failing batches, and sending what still fails to an on-failure queue.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSubscription {
    id: String,
    stream_arn: Expr,
    function: Expr,
    filters: Vec<String>,
    batch_size: u32,
    max_retries: u32,
    parallelization: u32,
    dlq: Queue,
}

impl StreamSubscription {
    /// Subscribes `function` to `table`'s stream, granting it the stream reads and the
    /// on-failure queue writes it needs.
    pub fn new(id: &str, table: &Table, function: &mut Function) -> StreamSubscription {
        let dlq = Queue::new(&format!("{id}FailureQueue"));
        table.grant_stream_read(function.role_mut());
        dlq.grant_send(function.role_mut());
        StreamSubscription {
            id: id.to_owned(),
            stream_arn: table.stream_arn(),
            function: function.name(),
            filters: Vec::new(),
            batch_size: 10,
            max_retries: 5,
            parallelization: 1,
            dlq,
        }
    }

    /// Only records matching this event-filter pattern reach the function.
    pub fn filter(mut self, pattern: serde_json::Value) -> StreamSubscription {
        self.filters.push(pattern.to_string());
        self
    }

    pub fn batch_size(mut self, n: u32) -> StreamSubscription {
        self.batch_size = n;
        self
    }

    /// How many batches of each shard run at once (1 to 10); one partition key's records stay
    /// in order.
    pub fn parallelization(mut self, n: u32) -> StreamSubscription {
        self.parallelization = n.clamp(1, 10);
        self
    }

    pub fn failure_queue(&self) -> &Queue {
        &self.dlq
    }

    pub fn add_to(&self, t: &mut Template) {
        self.dlq.add_to(t);
        t.add(
            &self.id,
            &EventSourceMapping {
                event_source_arn: Some(self.stream_arn.clone().into()),
                starting_position: Some("TRIM_HORIZON".into()),
                batch_size: Some(count(self.batch_size)),
                maximum_retry_attempts: Some(count(self.max_retries)),
                maximum_record_age_in_seconds: Some(count(3600)),
                parallelization_factor: (self.parallelization > 1)
                    .then(|| count(self.parallelization)),
                bisect_batch_on_function_error: Some(true.into()),
                filter_criteria: (!self.filters.is_empty()).then(|| esm::FilterCriteria {
                    filters: Some(
                        self.filters
                            .iter()
                            .map(|p| esm::Filter {
                                pattern: Some(p.clone().into()),
                            })
                            .collect(),
                    ),
                }),
                function_response_types: Some(vec![
                    esm::FunctionResponseTypes::ReportBatchItemFailures.into(),
                ]),
                destination_config: Some(esm::DestinationConfig {
                    on_failure: Some(esm::OnFailure {
                        destination: Some(self.dlq.arn().into()),
                    }),
                }),
                ..EventSourceMapping::new(self.function.clone())
            },
        );
    }
}
