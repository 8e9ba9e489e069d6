//! The project's moto launcher (`scripts/moto_server.py`): a cancelled transaction rolls back
//! in place, so the table, its other items and its stream are exactly as they were, and an
//! iterator opened before it goes on reading the table's stream (issue 12).

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem, Update,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;

type Item = HashMap<String, AttributeValue>;

fn item(key: &str, value: &str) -> Item {
    HashMap::from([
        ("k".to_owned(), AttributeValue::S(key.to_owned())),
        ("v".to_owned(), AttributeValue::S(value.to_owned())),
    ])
}

async fn table(client: &Client) -> String {
    let out = client
        .create_table()
        .table_name("t")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("k")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("k")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    out.table_description()
        .and_then(|t| t.latest_stream_arn())
        .unwrap()
        .to_owned()
}

/// Every item, sorted by key.
async fn scan(client: &Client) -> Vec<Item> {
    let mut items = client.scan().table_name("t").send().await.unwrap().items;
    let mut items = items.take().unwrap_or_default();
    items.sort_by_key(|i| i["k"].as_s().unwrap().clone());
    items
}

/// An iterator at the start of the table's (one) shard.
async fn trim_horizon(streams: &aws_sdk_dynamodbstreams::Client, arn: &str) -> String {
    let shard = streams
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    streams
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap()
}

/// The stream's records from the start, as (event id, sequence number, key).
async fn stream(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Vec<(String, String, String)> {
    records(streams, &trim_horizon(streams, arn).await).await.0
}

/// One page of records from `iterator`, and the next iterator.
async fn records(
    streams: &aws_sdk_dynamodbstreams::Client,
    iterator: &str,
) -> (Vec<(String, String, String)>, String) {
    let out = streams
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap();
    let records = out
        .records()
        .iter()
        .map(|r| {
            let change = r.dynamodb().unwrap();
            (
                r.event_id().unwrap().to_owned(),
                change.sequence_number().unwrap().to_owned(),
                change.keys().unwrap()["k"].as_s().unwrap().clone(),
            )
        })
        .collect();
    (records, out.next_shard_iterator.unwrap())
}

fn put(item: Item, condition: Option<&str>) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name("t")
                .set_item(Some(item))
                .set_condition_expression(condition.map(str::to_owned))
                .build()
                .unwrap(),
        )
        .build()
}

#[tokio::test]
async fn a_cancelled_transaction_leaves_the_table_and_its_stream_as_they_were() {
    let moto = common::Moto::start();
    let config = moto.sdk_config();
    let client = Client::new(&config);
    let streams = aws_sdk_dynamodbstreams::Client::new(&config);
    let arn = table(&client).await;
    for (k, v) in [("a", "1"), ("b", "2")] {
        client
            .put_item()
            .table_name("t")
            .set_item(Some(item(k, v)))
            .send()
            .await
            .unwrap();
    }
    let items_before = scan(&client).await;
    let stream_before = stream(&streams, &arn).await;
    assert_eq!(stream_before.len(), 2);
    // An iterator opened before the transaction, past the records already there.
    let (_, open) = records(&streams, &trim_horizon(&streams, &arn).await).await;

    // A new item, an update of `a`, and a condition on `b` that fails: the first two were
    // written first by moto's own transaction, before the third was checked.
    let refused = client
        .transact_write_items()
        .transact_items(put(item("c", "3"), Some("attribute_not_exists(k)")))
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("t")
                        .key("k", AttributeValue::S("a".into()))
                        .update_expression("SET v = :v")
                        .expression_attribute_values(":v", AttributeValue::S("changed".into()))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(put(item("b", "taken"), Some("attribute_not_exists(k)")))
        .send()
        .await
        .unwrap_err();
    let reasons: Vec<Option<String>> = refused
        .as_service_error()
        .and_then(|e| match e {
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
            _ => None,
        })
        .map(|e| {
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect()
        })
        .expect("a TransactionCanceledException");
    assert_eq!(
        reasons,
        [
            Some("None".to_owned()),
            Some("None".to_owned()),
            Some("ConditionalCheckFailed".to_owned())
        ]
    );

    assert_eq!(scan(&client).await, items_before, "the items are untouched");
    assert_eq!(
        stream(&streams, &arn).await,
        stream_before,
        "no stream record for what was cancelled"
    );
    let (nothing, open) = records(&streams, &open).await;
    assert_eq!(nothing, []);

    // The iterator opened before still reads the table's stream.
    client
        .transact_write_items()
        .transact_items(put(item("d", "4"), Some("attribute_not_exists(k)")))
        .send()
        .await
        .unwrap();
    let (next, _) = records(&streams, &open).await;
    assert_eq!(next.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(), ["d"]);
    assert_eq!(scan(&client).await.len(), 3);
}
