use crate::cfn::{Delivery, Output, Template};
use crate::constructs::Bucket;

use super::{Config, Kind, Stack};

/// `{prefix}-toolkit`: the artifacts bucket that holds Lambda zips, tenant templates and the
/// blueprint catalog, plus the bucket that receives its access logs. Deployed by TemplateBody,
/// since no bucket exists yet to hold it.
pub fn toolkit(config: &Config) -> Stack {
    let mut t = Template::new("toolkit");
    t.description(&format!(
        "silos toolkit for prefix {}: the artifacts bucket (Lambda zips, tenant templates, blueprint catalog)",
        config.prefix()
    ));
    let logs = Bucket::new("AccessLogsBucket").log_target();
    let artifacts = Bucket::new("ArtifactsBucket").access_logs_to(&logs, "artifacts/");
    logs.add_to(&mut t);
    artifacts.add_to(&mut t);
    t.output(
        "ArtifactsBucketName",
        Output::new("The bucket deploy publishes artifacts to", artifacts.name())
            .export(format!("{}-artifacts-bucket", config.prefix())),
    );
    t.output(
        "AccessLogsBucketName",
        Output::new(
            "The bucket that receives the artifacts bucket's access logs",
            logs.name(),
        ),
    );
    Stack {
        id: "toolkit".to_owned(),
        stack_name: Some(format!("{}-toolkit", config.prefix())),
        kind: Kind::Toolkit,
        target: None,
        delivery: Delivery::Body,
        template: t,
        artifacts: Vec::new(),
    }
}
