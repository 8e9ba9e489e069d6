//! A silos app with two tiers. `silo` tenants get the reference stack (a table and a function);
//! `premium` tenants also get an encrypted, public-access-blocked bucket and a queue with a
//! dead-letter queue, named after their stack and reachable by their function alone.
//!
//! Every `silos` command runs on it: `cargo run -p silos-example-premium -- synth`.

use silos::App;
use silos::cfn::Expr;
use silos::constructs::{Bucket, Queue};
use silos::stacks::{Silo, Stack, TenantContext, tenant_silo};

/// The premium tier: the silo, plus a bucket and a queue for the tenant's function.
fn premium(ctx: &TenantContext) -> Stack {
    let mut silo = Silo::new(ctx);
    let logs = Bucket::new("FilesLogs")
        .bucket_name(Expr::sub("${AWS::StackName}-files-logs"))
        .log_target()
        .removal(ctx.data.removal());
    let files = Bucket::new("Files")
        .bucket_name(Expr::sub("${AWS::StackName}-files"))
        .access_logs_to(&logs, "files/")
        .removal(ctx.data.removal());
    let dead = Queue::new("JobsDeadLetter").queue_name(Expr::sub("${AWS::StackName}-jobs-dlq"));
    let jobs = Queue::new("Jobs")
        .queue_name(Expr::sub("${AWS::StackName}-jobs"))
        .dead_letter_queue(&dead, 5);
    files.grant_read_write(silo.function_role());
    jobs.grant_send(silo.function_role());
    jobs.grant_consume(silo.function_role());
    silo.env("FILES_BUCKET", files.name());
    silo.env("JOBS_QUEUE_URL", jobs.url());
    logs.add_to(silo.template());
    files.add_to(silo.template());
    dead.add_to(silo.template());
    jobs.add_to(silo.template());
    silo.output("FilesBucketName", "The tenant's bucket", files.name());
    silo.output("JobsQueueUrl", "The tenant's queue", jobs.url());
    silo.finish()
}

fn main() -> std::process::ExitCode {
    let app = App::new()
        .tenant_stack("tenant-silo", tenant_silo)
        .tenant_stack("tenant-premium", premium);
    silos::cli::main_with(app)
}
