//! `silos deploy`, `diff` and `destroy` against the emulator: the real binary where a user
//! would run it, and the library where a test needs a change the app's own options cannot make.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Moto;
use serde_json::Value;
use sha2::{Digest, Sha256};
use silos::deploy::app::{self, Approval, Ui};
use silos::deploy::changeset::Plan;
use silos::deploy::diff::Change;
use silos::deploy::{Clients, LambdaZip, ZipSource};
use silos::stacks::{CONTROL_PLANE_ARTIFACT, Config, TENANT_ARTIFACT};
use silos::synth::{self, Format};

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Deployer {
    moto: Moto,
    dir: tempfile::TempDir,
    zip: PathBuf,
    tenant_zip: PathBuf,
}

impl Deployer {
    /// Runs a boto3 script (from the test command's `.venv`) against the emulator, its
    /// endpoint as `sys.argv[1]`, and reads what it prints as JSON.
    fn boto3(&self, script: &str) -> Value {
        serde_json::from_str(&common::python(script, &[&self.moto.endpoint])).unwrap()
    }

    fn new() -> Deployer {
        let dir = tempfile::tempdir().unwrap();
        // The real cargo-lambda builds: deploy never publishes the placeholder.
        Deployer {
            moto: Moto::start(),
            dir,
            zip: common::lambda_zip::zip_path(common::lambda_zip::CONTROL_PLANE),
            tenant_zip: common::lambda_zip::zip_path(common::lambda_zip::TENANT),
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// `silos ARGS --endpoint-url … --region us-east-1` with the emulator's credentials.
    fn silos(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_silos"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .args([
                "--endpoint-url",
                &self.moto.endpoint,
                "--region",
                "us-east-1",
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("HOME", self.dir.path())
            .env_remove("AWS_PROFILE")
            .env_remove("SILOS_API_URL")
            .output()
            .unwrap()
    }

    fn deploy(&self) -> Output {
        let out = self.out();
        self.silos(&[
            "deploy",
            "--yes",
            "--lambda-zip",
            self.zip.to_str().unwrap(),
            "--tenant-zip",
            self.tenant_zip.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--timeout",
            "60",
        ])
    }

    /// `silos deploy --dry-run --output json`: the plan it printed.
    fn dry_run(&self) -> Value {
        let out = self.out();
        let dry = self.silos(&[
            "deploy",
            "--dry-run",
            "--output",
            "json",
            "--lambda-zip",
            self.zip.to_str().unwrap(),
            "--tenant-zip",
            self.tenant_zip.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let (stdout, stderr) = text(&dry);
        assert!(dry.status.success(), "{stdout}\n{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: not JSON: {stdout}"))
    }

    fn outputs(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.out().join("outputs.json")).unwrap()).unwrap()
    }

    async fn keys(&self, bucket: &str) -> Vec<(String, String)> {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.moto.sdk_config())
                .force_path_style(true)
                .build(),
        );
        let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
        out.contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap().to_owned(),
                    o.last_modified().map(|t| t.to_string()).unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn status(&self, stack: &str) -> Option<String> {
        let cfn = aws_sdk_cloudformation::Client::new(&self.moto.sdk_config());
        match cfn.describe_stacks().stack_name(stack).send().await {
            Ok(o) => o.stacks()[0].stack_status().map(|s| s.as_str().to_owned()),
            Err(e) if silos::deploy::is_missing_stack(&e) => None,
            Err(e) => panic!("{e:?}"),
        }
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn deploy_from_nothing_then_again_with_nothing_changed() {
    let d = Deployer::new();
    let first = d.deploy();
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("silos-toolkit: created"), "{stdout}");
    assert!(stdout.contains("silos-control-plane: created"), "{stdout}");
    assert_eq!(
        d.status("silos-toolkit").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(
        d.status("silos-control-plane").await.as_deref(),
        Some("CREATE_COMPLETE")
    );

    let outputs = d.outputs();
    assert!(
        outputs["apiUrl"].as_str().unwrap().starts_with("https://"),
        "{outputs}"
    );
    assert!(outputs["stacks"]["silos-control-plane"]["TenantsTableName"].is_string());
    let bucket = outputs["artifactsBucket"].as_str().unwrap().to_owned();

    // The table stream's two subscriptions as Lambda holds them, read with boto3: ten
    // batches of a shard at once each (docs/SCALING.md), in batches of ten.
    let mappings = d.boto3(
        "import boto3, json, sys\n\
         c = boto3.client('lambda', endpoint_url=sys.argv[1], region_name='us-east-1')\n\
         m = c.list_event_source_mappings()['EventSourceMappings']\n\
         print(json.dumps([{'source': x['EventSourceArn'], 'function': x['FunctionArn'], \
           'parallelization': x.get('ParallelizationFactor'), 'batch': x.get('BatchSize')} for x in m]))",
    );
    let mappings = mappings.as_array().unwrap();
    assert_eq!(mappings.len(), 2, "{mappings:?}");
    for m in mappings {
        assert!(m["source"].as_str().unwrap().contains("/stream/"), "{m}");
        assert_eq!(m["parallelization"], 10, "{m}");
        assert_eq!(m["batch"], 10, "{m}");
    }

    // Everything under content-hash keys, computed here from the bytes deploy had.
    let keys: Vec<String> = d.keys(&bucket).await.into_iter().map(|(k, _)| k).collect();
    let zip = std::fs::read(&d.zip).unwrap();
    let tenant = std::fs::read(d.out().join("tenant-silo.json")).unwrap();
    let control_plane = std::fs::read(d.out().join("control-plane.json")).unwrap();
    let tenant_zip = std::fs::read(&d.tenant_zip).unwrap();
    for key in [
        format!("lambda/control-plane/{}.zip", hex(&zip)),
        format!("lambda/tenant-function/{}.zip", hex(&tenant_zip)),
        format!("templates/tenant-silo/{}.json", hex(&tenant)),
        format!("templates/control-plane/{}.json", hex(&control_plane)),
        "catalog/current.json".to_owned(),
    ] {
        assert!(keys.contains(&key), "{key} not in {keys:#?}");
    }
    let before = d.keys(&bucket).await;

    let second = d.deploy();
    let (stdout, stderr) = text(&second);
    assert!(second.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("silos-toolkit: no changes"), "{stdout}");
    assert!(
        stdout.contains("silos-control-plane: no changes"),
        "{stdout}"
    );
    assert!(stdout.contains(", 0 uploaded"), "{stdout}");
    assert_eq!(d.keys(&bucket).await, before, "nothing was written again");

    let diff = d.silos(&["diff", "--fail"]);
    let (stdout, stderr) = text(&diff);
    assert!(diff.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("stack silos-control-plane: no differences")
            && stdout.contains("stack silos-toolkit: no differences"),
        "{stdout}"
    );
}

/// Records what deploy shows, and approves everything.
#[derive(Default)]
struct Recorder {
    plans: Vec<Plan>,
    lines: Vec<String>,
}

impl Ui for Recorder {
    fn line(&mut self, line: &str) {
        self.lines.push(line.to_owned());
    }
    fn plan(&mut self, plan: &Plan) {
        self.plans.push(plan.clone());
    }
    fn approve(&mut self, _: &Plan) -> Result<bool, silos::deploy::Error> {
        Ok(true)
    }
}

/// The app's synth output with one edit to the control-plane template.
fn edited(edit: impl FnOnce(&mut Value)) -> synth::Output {
    let mut output = synth::synth(
        &common::app(),
        &Config::new("silos").unwrap(),
        Path::new("blueprints"),
        Format::Json,
    )
    .unwrap();
    let file = output
        .files
        .iter_mut()
        .find(|f| f.name == "control-plane.json")
        .unwrap();
    let mut template: Value = serde_json::from_str(&file.contents).unwrap();
    edit(&mut template);
    file.contents = serde_json::to_string_pretty(&template).unwrap();
    output
}

/// The deployer's zips, as the library takes them.
fn zips(d: &Deployer) -> Vec<LambdaZip> {
    vec![
        LambdaZip::read(
            CONTROL_PLANE_ARTIFACT,
            &d.zip,
            ZipSource::Given(d.zip.clone()),
        )
        .unwrap(),
        LambdaZip::read(
            TENANT_ARTIFACT,
            &d.tenant_zip,
            ZipSource::Given(d.tenant_zip.clone()),
        )
        .unwrap(),
    ]
}

fn options() -> app::Options {
    app::Options {
        approval: Approval::AnyChange,
        timeout: std::time::Duration::from_secs(60),
        region: "us-east-1".into(),
    }
}

async fn deploy_library(
    d: &Deployer,
    output: &synth::Output,
) -> (Result<app::Report, silos::deploy::Error>, Recorder) {
    let mut ui = Recorder::default();
    let report = app::deploy_app(
        &Clients::new(&d.moto.sdk_config()),
        output,
        &zips(d),
        &options(),
        &mut ui,
    )
    .await;
    (report, ui)
}

#[tokio::test]
async fn a_change_is_summarised_exactly_and_diff_names_it() {
    let d = Deployer::new();
    assert!(d.deploy().status.success());
    let memory = |t: &Value| {
        t["Resources"]["ProvisionerFunction"]["Properties"]["MemorySize"]
            .as_u64()
            .unwrap()
    };
    let output = edited(|t| {
        let m = memory(t);
        t["Resources"]["ProvisionerFunction"]["Properties"]["MemorySize"] = (m + 128).into();
    });
    let (report, ui) = deploy_library(&d, &output).await;
    report.unwrap();
    assert_eq!(ui.plans.len(), 2);
    assert!(ui.plans[0].unchanged, "the toolkit did not change");
    let changes = &ui.plans[1].diff.resources;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].logical_id, "ProvisionerFunction");
    assert_eq!(
        changes[0].change,
        Change::Modified {
            paths: vec!["Properties.MemorySize".into()],
            replacement: silos::deploy::diff::Replacement::Never,
        }
    );
    assert_eq!(
        d.status("silos-control-plane").await.as_deref(),
        Some("UPDATE_COMPLETE")
    );

    // The deployed template now differs from what synth makes: diff names the resource and
    // the property, and --fail makes that an error.
    let diff = d.silos(&["diff", "--fail"]);
    let (stdout, stderr) = text(&diff);
    assert_eq!(diff.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout
            .contains("[~] AWS::Lambda::Function ProvisionerFunction\n    Properties.MemorySize\n"),
        "{stdout}"
    );
    assert_eq!(stderr.trim(), "error: there are differences");
    assert!(
        d.silos(&["diff"]).status.success(),
        "without --fail, differences are not an error"
    );
}

#[tokio::test]
async fn a_failed_deploy_says_why_and_exits_non_zero() {
    let d = Deployer::new();
    // The library: a role name that is taken makes the emulator fail the change set.
    let iam = aws_sdk_iam_free_role(&d).await;
    let output = edited(|t| {
        t["Resources"]["ProvisioningRole"]["Properties"]["RoleName"] = iam.clone().into();
    });
    let (report, _) = deploy_library(&d, &output).await;
    let err = report.unwrap_err().to_string();
    assert!(
        err == format!(
            "CloudFormation CreateStack on silos-control-plane: EntityAlreadyExists: Role with name {iam} already exists."
        ),
        "{err}"
    );

    // The CLI: the artifacts bucket is gone behind deploy's back.
    let d = Deployer::new();
    assert!(d.deploy().status.success());
    let bucket = d.outputs()["artifactsBucket"].as_str().unwrap().to_owned();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&d.moto.sdk_config())
            .force_path_style(true)
            .build(),
    );
    for (key, _) in d.keys(&bucket).await {
        s3.delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let failed = d.deploy();
    let (stdout, stderr) = text(&failed);
    assert_eq!(failed.status.code(), Some(1), "{stdout}\n{stderr}");
    let line = stderr.trim();
    assert!(
        line.starts_with(&format!(
            "error: S3 PutObject s3://{bucket}/lambda/control-plane/"
        )) && line.ends_with(": NoSuchBucket: The specified bucket does not exist")
            && !line.contains('\n'),
        "one clear line: {stderr}"
    );
}

/// Creates an IAM role through CloudFormation's own emulator and returns its name, so a
/// template that names it collides.
async fn aws_sdk_iam_free_role(d: &Deployer) -> String {
    let cfn = aws_sdk_cloudformation::Client::new(&d.moto.sdk_config());
    let name = "silos-taken-role".to_owned();
    let template = serde_json::json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": name,
        "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "lambda.amazonaws.com"}}]}}}}});
    cfn.create_stack()
        .stack_name("someone-else")
        .template_body(template.to_string())
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn deploy_refuses_to_publish_a_placeholder_and_deploys_nothing() {
    let d = Deployer::new();
    let placeholder = d.dir.path().join("tenant-placeholder.zip");
    std::fs::write(
        &placeholder,
        silos::deploy::placeholder_zip(TENANT_ARTIFACT),
    )
    .unwrap();
    let out = d.out();
    let refused = d.silos(&[
        "deploy",
        "--yes",
        "--lambda-zip",
        d.zip.to_str().unwrap(),
        "--tenant-zip",
        placeholder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {} is the labelled placeholder for silos-tenant-handler, which only exits 1 and is never published: build the real one with `cargo lambda build --profile lambda --output-format zip --x86-64 --bin silos-tenant-handler`",
            placeholder.display()
        )
    );
    assert_eq!(
        d.status("silos-toolkit").await,
        None,
        "nothing was deployed"
    );
}

#[test]
fn without_a_terminal_or_yes_deploy_refuses_to_broaden_access() {
    let d = Deployer::new();
    let out = d.out();
    let refused = d.silos(&[
        "deploy",
        "--lambda-zip",
        d.zip.to_str().unwrap(),
        "--tenant-zip",
        d.tenant_zip.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.starts_with("error: silos-toolkit needs approval because it broadens access (AccessLogsBucketPolicy)"),
        "{stderr}"
    );
    assert!(stderr.contains("rerun with --yes"), "{stderr}");
}

#[tokio::test]
async fn a_dry_run_prints_each_stacks_plan_as_json_and_changes_nothing() {
    let d = Deployer::new();
    // From nothing: both stacks would be created, every resource added.
    let plan = d.dry_run();
    let stacks = plan["stacks"].as_array().unwrap();
    let names: Vec<&str> = stacks
        .iter()
        .map(|s| s["stack"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["silos-toolkit", "silos-control-plane"]);
    for stack in stacks {
        assert_eq!(stack["action"], "create", "{stack}");
        assert_eq!(stack["recreate"], false, "{stack}");
        let changes = stack["changes"].as_array().unwrap();
        assert!(!changes.is_empty(), "{stack}");
        assert!(
            changes
                .iter()
                .all(|c| c["change"] == "add" && c["replacement"] == false),
            "{stack}"
        );
    }
    let added = |i: usize| -> Vec<&str> {
        stacks[i]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["logicalId"].as_str().unwrap())
            .collect()
    };
    assert!(added(0).contains(&"ArtifactsBucket"), "{:?}", added(0));
    assert!(added(1).contains(&"ProvisionerFunction"), "{:?}", added(1));
    assert_eq!(
        d.status("silos-toolkit").await,
        None,
        "nothing was deployed"
    );
    assert_eq!(d.status("silos-control-plane").await, None);
    assert!(!d.out().exists(), "nothing was written");

    // Deployed: nothing to do.
    assert!(d.deploy().status.success());
    let plan = d.dry_run();
    assert_eq!(
        plan,
        serde_json::json!({"stacks": [
            {"stack": "silos-toolkit", "action": "none", "recreate": false, "changes": [], "other": []},
            {"stack": "silos-control-plane", "action": "none", "recreate": false, "changes": [], "other": []},
        ]})
    );

    // As text: each stack's summary, and that nothing was done.
    let out = d.out();
    let text_plan = d.silos(&[
        "deploy",
        "--dry-run",
        "--lambda-zip",
        d.zip.to_str().unwrap(),
        "--tenant-zip",
        d.tenant_zip.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&text_plan);
    assert!(text_plan.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("silos-toolkit: no changes\nsilos-control-plane: no changes\ndry run: nothing was published or deployed\n"),
        "{stdout}"
    );

    // A change (the library, since the app's options cannot make it): the memory, and a
    // function name, which replaces the function.
    let output = edited(|t| {
        let props = &mut t["Resources"]["ProvisionerFunction"]["Properties"];
        props["MemorySize"] = (props["MemorySize"].as_u64().unwrap() + 128).into();
        props["FunctionName"] = "silos-provisioner-renamed".into();
    });
    let clients = Clients::new(&d.moto.sdk_config());
    let plans = app::plan_app(&clients, &output, &zips(&d), &options())
        .await
        .unwrap();
    let summaries: Vec<Value> = plans
        .iter()
        .map(|p| serde_json::to_value(p.summary()).unwrap())
        .collect();
    assert_eq!(
        summaries,
        vec![
            serde_json::json!({"stack": "silos-toolkit", "action": "none", "recreate": false, "changes": [], "other": []}),
            serde_json::json!({"stack": "silos-control-plane", "action": "update", "recreate": false, "changes": [{
                "logicalId": "ProvisionerFunction",
                "resourceType": "AWS::Lambda::Function",
                "change": "modify",
                "replacement": true,
                "paths": ["Properties.FunctionName", "Properties.MemorySize"],
            }], "other": []}),
        ]
    );
    // Planned, not carried out: no change set, and the stack as deploy left it.
    let cfn = aws_sdk_cloudformation::Client::new(&d.moto.sdk_config());
    let change_sets = cfn
        .list_change_sets()
        .stack_name("silos-control-plane")
        .send()
        .await
        .unwrap();
    assert!(change_sets.summaries().is_empty(), "{change_sets:?}");
    assert_eq!(
        d.status("silos-control-plane").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(d.dry_run()["stacks"][1]["action"], "none");
}
