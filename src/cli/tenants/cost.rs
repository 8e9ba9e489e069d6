//! `silos tenants cost`: what each tenant (or tier, or cell) cost in a month, from Cost
//! Explorer's GetCostAndUsage grouped by the cost allocation tags every tenant stack carries
//! (`silos:tenant-id`, `silos:tier`, `silos:cell`), limited to this app's stacks by
//! `silos:prefix`. Cost Explorer is asked with the operator's credentials, as `tenants users`
//! asks Cognito; the API names the tenants.
//!
//! Amounts are summed as exact decimals (Cost Explorer's strings carry up to ten places), and
//! shown rounded to the cent. Every request costs $0.01, and each page is one: the output says
//! how many it took.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_costexplorer::Client;
use aws_sdk_costexplorer::types::{
    DateInterval, Expression, Granularity, GroupDefinition, GroupDefinitionType, MatchOption,
    TagValues,
};
use serde::Serialize;

use super::super::client::ApiClient;
use super::super::outputs::{OUTPUTS_FILE, Outputs};
use super::super::{Cli, Error, OutputFormat};
use super::render::table;
use crate::blueprint::{CELL_TAG, PREFIX_TAG, TENANT_ID_TAG, TIER_TAG};

/// The cost Cost Explorer reports: what was billed, before credits and discounts are spread.
pub const METRIC: &str = "UnblendedCost";

/// What the costs are grouped by: `--by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Tenant,
    Tier,
    Cell,
}

impl By {
    fn tag(self) -> &'static str {
        match self {
            By::Tenant => TENANT_ID_TAG,
            By::Tier => TIER_TAG,
            By::Cell => CELL_TAG,
        }
    }
}

/// A calendar month, `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: u32,
    pub month: u32,
}

impl std::str::FromStr for Month {
    type Err = String;
    fn from_str(s: &str) -> Result<Month, String> {
        let bad = || format!("--month {s:?} is not a month as YYYY-MM (2026-11)");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: u32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || year < 2000 {
            return Err(bad());
        }
        Ok(Month { year, month })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Month {
    fn first(self) -> String {
        format!("{self}-01")
    }

    fn next(self) -> Month {
        match self.month {
            12 => Month {
                year: self.year + 1,
                month: 1,
            },
            m => Month {
                year: self.year,
                month: m + 1,
            },
        }
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
fn today() -> String {
    let now = aws_sdk_costexplorer::primitives::DateTime::from(std::time::SystemTime::now());
    let text = now
        .fmt(aws_sdk_costexplorer::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default();
    text.get(..10).unwrap_or("1970-01-01").to_owned()
}

/// The days after `date` (`YYYY-MM-DD`), by civil arithmetic: the day after it.
fn day_after(date: &str) -> String {
    let parse = |r: std::ops::Range<usize>| date.get(r).and_then(|s| s.parse::<i64>().ok());
    let (Some(y), Some(m), Some(d)) = (parse(0..4), parse(5..7), parse(8..10)) else {
        return date.to_owned();
    };
    // Days from civil, +1, back to civil (Howard Hinnant's algorithms).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let z = era * 146_097 + doe + 1;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The period Cost Explorer is asked for: the month, or for the current month the days so
/// far (its end is exclusive, and may not be after tomorrow).
fn period(month: Month, today: &str) -> Result<(String, String), Error> {
    let (start, end) = (month.first(), month.next().first());
    if start.as_str() > today {
        return Err(Error::Usage(format!(
            "--month {month} has not begun (today is {today})"
        )));
    }
    let tomorrow = day_after(today);
    Ok((start, if end > tomorrow { tomorrow } else { end }))
}

/// An exact amount in units of 10⁻¹⁰ (Cost Explorer's finest), from its decimal string.
fn parse_amount(s: &str) -> Option<i128> {
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac: String = frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(10)
        .collect();
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    Some(sign * (whole * 10_000_000_000 + frac.parse::<i128>().ok()?))
}

/// An amount rounded to `places` decimals (half away from zero).
fn format_amount(units: i128, places: u32) -> String {
    let scale = 10i128.pow(10 - places);
    let half = scale / 2;
    let rounded = if units >= 0 {
        (units + half) / scale
    } else {
        (units - half) / scale
    };
    let sign = if rounded < 0 { "-" } else { "" };
    let abs = rounded.abs();
    let unit = 10i128.pow(places);
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = places as usize
    )
}

/// One group's cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The tag's value: a tenant id, a tier or a cell; empty for costs without the tag.
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_type: Option<String>,
    /// The exact sum, as Cost Explorer writes amounts.
    pub amount: String,
    pub unit: String,
    #[serde(skip)]
    units: i128,
}

/// `silos tenants cost`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub month: String,
    pub start: String,
    /// Exclusive.
    pub end: String,
    pub metric: &'static str,
    pub by: By,
    /// Largest first.
    pub groups: Vec<Group>,
    pub total: String,
    pub unit: String,
    /// GetCostAndUsage requests made (pages), each billed at $0.01.
    pub requests: u32,
    /// Cost Explorer's own word: some of the period's figures are still estimates.
    pub estimated: bool,
}

/// The groups of every page, summed per key (a month can span pages, and a page can repeat a
/// key across its periods).
fn sum(
    pages: &[aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput],
    tag: &str,
) -> Result<(BTreeMap<String, i128>, String, bool), Error> {
    let mut sums: BTreeMap<String, i128> = BTreeMap::new();
    let mut unit = String::from("USD");
    let mut estimated = false;
    for page in pages {
        for period in page.results_by_time() {
            estimated |= period.estimated();
            for group in period.groups() {
                // `silos:tenant-id$0f8c…`; `silos:tenant-id$` for costs without the tag.
                let key = group.keys().first().map(String::as_str).unwrap_or_default();
                let value = key
                    .strip_prefix(tag)
                    .and_then(|rest| rest.strip_prefix('$'))
                    .unwrap_or(key)
                    .to_owned();
                let Some(metric) = group.metrics().and_then(|m| m.get(METRIC)) else {
                    continue;
                };
                let amount = metric.amount().unwrap_or("0");
                let units = parse_amount(amount).ok_or_else(|| {
                    Error::Tenant(format!(
                        "Cost Explorer answered an amount that is not a number: {amount:?}"
                    ))
                })?;
                if let Some(u) = metric.unit() {
                    unit = u.to_owned();
                }
                *sums.entry(value).or_default() += units;
            }
        }
    }
    Ok((sums, unit, estimated))
}

/// A Cost Explorer client: the CLI's AWS settings, with local mode's emulator when no
/// endpoint is given and `silos local` wrote one.
async fn client(cli: &Cli) -> Result<Client, Error> {
    let mut options = cli.aws_options();
    if options.endpoint_url.is_none()
        && let Some(outputs) = Outputs::read(Path::new(OUTPUTS_FILE))?
        && outputs.mode == "local"
    {
        options.endpoint_url = outputs.endpoint_url;
    }
    Ok(Client::new(&crate::aws::load(&options).await))
}

/// Every page of GetCostAndUsage for the month, grouped by `by`'s tag, for this app's stacks.
async fn query(
    ce: &Client,
    prefix: &str,
    by: By,
    (start, end): (&str, &str),
) -> Result<Vec<aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput>, Error>
{
    let period = DateInterval::builder()
        .start(start)
        .end(end)
        .build()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let filter = Expression::builder()
        .tags(
            TagValues::builder()
                .key(PREFIX_TAG)
                .values(prefix)
                .match_options(MatchOption::Equals)
                .build(),
        )
        .build();
    let group = GroupDefinition::builder()
        .r#type(GroupDefinitionType::Tag)
        .key(by.tag())
        .build();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ce
            .get_cost_and_usage()
            .time_period(period.clone())
            .granularity(Granularity::Monthly)
            .metrics(METRIC)
            .filter(filter.clone())
            .group_by(group.clone())
            .set_next_page_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                Error::Tenant(format!(
                    "Cost Explorer GetCostAndUsage: {}",
                    crate::aws::sdk_message(&e)
                ))
            })?;
        token = out.next_page_token().map(str::to_owned);
        pages.push(out);
        if token.is_none() {
            return Ok(pages);
        }
    }
}

pub async fn run(
    cli: &Cli,
    api_url: Option<&str>,
    month: Option<&str>,
    by: By,
) -> Result<(), Error> {
    let today = today();
    let month: Month = match month {
        Some(m) => m.parse().map_err(Error::Usage)?,
        None => today
            .get(..7)
            .unwrap_or_default()
            .parse()
            .map_err(Error::Usage)?,
    };
    let (start, end) = period(month, &today)?;
    let ce = client(cli).await?;
    let pages = query(&ce, &cli.prefix, by, (&start, &end)).await?;
    let (sums, unit, estimated) = sum(&pages, by.tag())?;
    // The tenants' names and tiers, from the API; without it the ids alone.
    let mut names = BTreeMap::new();
    if by == By::Tenant {
        match super::client(cli, api_url).await {
            Ok(api) => match tenants(&api).await {
                Ok(found) => names = found,
                Err(e) => tracing::warn!(error = %e, "cannot list the tenants; showing ids only"),
            },
            Err(e) => tracing::warn!(error = %e, "no tenant API; showing ids only"),
        }
    }
    let mut groups: Vec<Group> = sums
        .into_iter()
        .map(|(key, units)| {
            let known: Option<&(String, String)> = names.get(&key);
            Group {
                tenant_name: known.map(|k| k.0.clone()),
                deployment_type: known.map(|k| k.1.clone()),
                amount: format_amount(units, 10)
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_owned(),
                unit: unit.clone(),
                key,
                units,
            }
        })
        .collect();
    groups.sort_by(|a, b| b.units.cmp(&a.units).then(a.key.cmp(&b.key)));
    let total: i128 = groups.iter().map(|g| g.units).sum();
    let report = Report {
        month: month.to_string(),
        start,
        end,
        metric: METRIC,
        by,
        total: format_amount(total, 2),
        groups,
        unit,
        requests: pages.len() as u32,
        estimated,
    };
    match cli.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        OutputFormat::Text => print!("{}", render(&report)),
    }
    Ok(())
}

/// This month's cost so far, per tenant: what the console's tenant pages show.
#[derive(Clone, Debug, Serialize)]
pub struct MonthToDate {
    pub month: String,
    /// Tenant id → its amount, to the cent.
    pub by_tenant: BTreeMap<String, String>,
    pub unit: String,
    pub estimated: bool,
    /// The GetCostAndUsage requests it took ($0.01 each).
    pub requests: u32,
}

/// Asks Cost Explorer for this month so far, grouped by tenant, for `prefix`'s stacks.
pub async fn month_to_date(ce: &Client, prefix: &str) -> Result<MonthToDate, Error> {
    let today = today();
    let month: Month = today
        .get(..7)
        .unwrap_or_default()
        .parse()
        .map_err(Error::Usage)?;
    let (start, end) = period(month, &today)?;
    let pages = query(ce, prefix, By::Tenant, (&start, &end)).await?;
    let (sums, unit, estimated) = sum(&pages, By::Tenant.tag())?;
    Ok(MonthToDate {
        month: month.to_string(),
        by_tenant: sums
            .into_iter()
            .map(|(k, units)| (k, format_amount(units, 2)))
            .collect(),
        unit,
        estimated,
        requests: pages.len() as u32,
    })
}

async fn tenants(api: &ApiClient) -> Result<BTreeMap<String, (String, String)>, Error> {
    Ok(api
        .tenants()
        .await?
        .into_iter()
        .map(|t| (t.tenant_id, (t.tenant_name, t.deployment_type)))
        .collect())
}

fn render(r: &Report) -> String {
    let label = |g: &Group| {
        if g.key.is_empty() {
            "(untagged)".to_owned()
        } else {
            g.key.clone()
        }
    };
    let rows: Vec<Vec<String>> = r
        .groups
        .iter()
        .map(|g| {
            let mut row = vec![label(g)];
            if r.by == By::Tenant {
                row.push(g.tenant_name.clone().unwrap_or_else(|| "-".to_owned()));
                row.push(g.deployment_type.clone().unwrap_or_else(|| "-".to_owned()));
            }
            row.push(format_amount(g.units, 2));
            row
        })
        .collect();
    let first = match r.by {
        By::Tenant => "TENANT ID",
        By::Tier => "TIER",
        By::Cell => "CELL",
    };
    let cost = format!("COST ({})", r.unit);
    let headers: Vec<&str> = match r.by {
        By::Tenant => vec![first, "NAME", "TYPE", &cost],
        _ => vec![first, &cost],
    };
    let mut out = if rows.is_empty() {
        format!(
            "no costs recorded for {} stacks with the cost allocation tags\n",
            r.metric
        )
    } else {
        table(&headers, &rows)
    };
    let requests = r.requests;
    out.push_str(&format!(
        "total {} {} for {} ({} to {}, {}{}); {requests} Cost Explorer request{} (${})\n",
        r.total,
        r.unit,
        r.month,
        r.start,
        r.end,
        r.metric,
        if r.estimated { ", estimated" } else { "" },
        if requests == 1 { "" } else { "s" },
        format_amount(i128::from(requests) * 100_000_000, 2),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly_and_periods_stop_at_tomorrow() {
        assert_eq!(
            "2026-11".parse::<Month>(),
            Ok(Month {
                year: 2026,
                month: 11
            })
        );
        for bad in [
            "2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "abcd-ef",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
        let nov: Month = "2026-11".parse().unwrap();
        assert_eq!(
            period(nov, "2026-12-07").unwrap(),
            ("2026-11-01".to_owned(), "2026-12-01".to_owned())
        );
        let dec: Month = "2026-12".parse().unwrap();
        assert_eq!(
            period(dec, "2026-12-07").unwrap(),
            ("2026-12-01".to_owned(), "2026-12-08".to_owned())
        );
        assert_eq!(
            period(dec, "2026-12-31").unwrap().1,
            "2027-01-01",
            "the last day's end is the next month's first"
        );
        assert!(period("2027-01".parse().unwrap(), "2026-12-07").is_err());
        assert_eq!(day_after("2028-02-28"), "2028-02-29");
        assert_eq!(day_after("2027-02-28"), "2027-03-01");
    }

    #[test]
    fn amounts_are_summed_exactly_and_rounded_half_away_from_zero() {
        assert_eq!(parse_amount("0.0101516483"), Some(101_516_483));
        assert_eq!(parse_amount("12"), Some(120_000_000_000));
        assert_eq!(parse_amount("-0.5"), Some(-5_000_000_000));
        assert_eq!(parse_amount("1e-3"), None);
        assert_eq!(parse_amount(""), None);
        // 0.1 + 0.2 is 0.3 here, not 0.30000000000000004.
        let sum = parse_amount("0.1").unwrap() + parse_amount("0.2").unwrap();
        assert_eq!(format_amount(sum, 10), "0.3000000000");
        assert_eq!(format_amount(parse_amount("0.005").unwrap(), 2), "0.01");
        assert_eq!(format_amount(parse_amount("0.0049").unwrap(), 2), "0.00");
        assert_eq!(format_amount(parse_amount("-1.005").unwrap(), 2), "-1.01");
    }
}
