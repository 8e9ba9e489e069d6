//! `silos tenants events [--follow]`: the lifecycle events of the control plane's bus, one line
//! each (or the whole event as a JSON line with `--output json`), through a subscription of
//! its own that is removed on exit.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::signals::Signals;
use crate::cli::{Cli, Error, OutputFormat};
use crate::control_plane::events::{Received, Subscription};

pub async fn run(cli: &Cli, follow: bool, wait: Duration) -> Result<(), Error> {
    let mut signals = Signals::install()?;
    let sdk = crate::aws::load(&cli.aws_options()).await;
    let bus = format!("{}-events", cli.prefix);
    let subscription = Subscription::create(&sdk, &bus).await?;
    eprintln!(
        "listening on {bus} through queue {} ({})",
        subscription.name,
        if follow {
            "Ctrl-C stops".to_owned()
        } else {
            format!("for {} s", wait.as_secs())
        }
    );
    let deadline = Instant::now() + wait;
    let result = loop {
        let left = if follow {
            Duration::from_secs(1)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        if left.is_zero() {
            break Ok(());
        }
        let received = tokio::select! {
            r = subscription.receive(left.min(Duration::from_secs(1))) => r,
            _ = signals.wait() => break Ok(()),
        };
        match received {
            Ok(events) => {
                for event in events {
                    print(cli, &event);
                }
            }
            Err(e) => break Err(e),
        }
    };
    let removed = subscription.delete().await;
    result?;
    removed?;
    Ok(())
}

fn print(cli: &Cli, event: &Value) {
    if cli.output == OutputFormat::Json {
        println!("{event}");
        return;
    }
    match serde_json::from_value::<Received>(event.clone()) {
        Ok(e) => {
            let t = &e.detail.tenant;
            let reason = t
                .status_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            println!(
                "{} {} {} ({}) {} -> {}{reason}",
                t.status_changed_at,
                e.detail_type,
                t.tenant_name,
                t.tenant_id,
                e.detail.previous_status.map_or("new", |s| s.as_str()),
                t.status,
            );
        }
        Err(err) => tracing::warn!(error = %err, "not a lifecycle event; skipped"),
    }
}
