//! `tracehound alerts` and `tracehound subscription`: the data dir's alert outbox as
//! `tracehound watch` fills it, and the webhooks it delivers to.

use anyhow::Context;
use serde_json::json;
use tracehound_monitor::{AlertKind, NewSubscription, Outbox};

use crate::args::{AlertsCommand, Global, SubscriptionCommand};

fn open(global: &Global) -> anyhow::Result<Outbox> {
    let path = crate::watch::outbox_path(&global.data_dir());
    Outbox::open(&path).with_context(|| {
        format!(
            "opening the alert outbox {} (a running `tracehound watch` holds it: stop it, or read alerts from its webhooks)",
            path.display()
        )
    })
}

pub(crate) fn alerts(global: &Global, command: AlertsCommand) -> anyhow::Result<()> {
    let outbox = open(global)?;
    match command {
        AlertsCommand::List { after, limit } => {
            let alerts = outbox.alerts(after, limit)?;
            let deliveries = outbox.deliveries(None)?;
            if global.json {
                let rows: Vec<_> = alerts
                    .iter()
                    .map(|(seq, a)| {
                        let d: Vec<_> = deliveries.iter().filter(|d| d.alert_seq == *seq).collect();
                        json!({ "seq": seq, "alert": a, "deliveries": d })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            if alerts.is_empty() {
                println!("no alerts");
            }
            for (seq, a) in &alerts {
                println!(
                    "#{seq} {} {} at {} (block {}): {}",
                    a.kind, a.chain, a.height, a.block_hash, a.summary
                );
                // What a retraction or a final follows up on, by id (its seq may be on
                // another page).
                match (&a.retracts, &a.finalises) {
                    (Some(of), _) => println!("    retracts {of}"),
                    (_, Some(of)) => println!("    finalises {of}"),
                    _ => {}
                }
                for d in deliveries.iter().filter(|d| d.alert_seq == *seq) {
                    println!(
                        "    → {}: {:?} after {} attempt(s){}",
                        d.subscription,
                        d.state,
                        d.attempts,
                        d.last_error
                            .as_deref()
                            .map(|e| format!(", last error: {e}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        AlertsCommand::Redeliver { subscription, seq } => {
            if !outbox.redeliver(&subscription, seq)? {
                anyhow::bail!("no dead delivery of alert #{seq} to {subscription}");
            }
            println!("alert #{seq} queued again for {subscription}");
        }
    }
    Ok(())
}

pub(crate) fn subscription(global: &Global, command: SubscriptionCommand) -> anyhow::Result<()> {
    let outbox = open(global)?;
    match command {
        SubscriptionCommand::Add {
            url,
            kind,
            incident,
            secret,
        } => {
            let kinds = kind
                .iter()
                .map(|k| k.parse::<AlertKind>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let sub = outbox.subscribe(NewSubscription {
                url,
                secret,
                kinds,
                incidents: incident,
                description: None,
            })?;
            let secret = sub.secret().unwrap_or_default();
            if global.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({ "subscription": sub, "secret": secret })
                    )?
                );
            } else {
                println!("subscription {} → {}", sub.id, sub.url);
                println!("signing secret (shown once): {secret}");
            }
        }
        SubscriptionCommand::List => {
            let subs = outbox.subscriptions()?;
            if global.json {
                println!("{}", serde_json::to_string_pretty(&subs)?);
            } else if subs.is_empty() {
                println!("no subscriptions");
            } else {
                for s in subs {
                    println!(
                        "{} {} kinds {:?} incidents {:?}",
                        s.id, s.url, s.kinds, s.incidents
                    );
                }
            }
        }
        SubscriptionCommand::Remove { id } => {
            if !outbox.unsubscribe(&id)? {
                anyhow::bail!("no subscription {id} (see `tracehound subscription list`)");
            }
            println!("removed {id}");
        }
    }
    Ok(())
}
