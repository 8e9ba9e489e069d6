//! `AWS::Logs::*`.

use serde::Serialize;

use crate::{Resource, Value};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<Value<String>>,
    pub retention_in_days: RetentionDays,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<Value<String>>,
}

impl Resource for LogGroup {
    const TYPE: &'static str = "AWS::Logs::LogGroup";
    const ATTRIBUTES: &'static [&'static str] = &["Arn"];
}

/// The retention periods CloudWatch Logs accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionDays {
    OneWeek,
    OneMonth,
    ThreeMonths,
    SixMonths,
    OneYear,
    TwoYears,
    FiveYears,
    TenYears,
}

impl RetentionDays {
    pub fn days(self) -> u32 {
        match self {
            RetentionDays::OneWeek => 7,
            RetentionDays::OneMonth => 30,
            RetentionDays::ThreeMonths => 90,
            RetentionDays::SixMonths => 180,
            RetentionDays::OneYear => 365,
            RetentionDays::TwoYears => 731,
            RetentionDays::FiveYears => 1827,
            RetentionDays::TenYears => 3653,
        }
    }
}

impl Serialize for RetentionDays {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.days())
    }
}
