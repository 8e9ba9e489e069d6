"""moto's AWS emulator, serialized: one request at a time.

moto's threaded server checks a condition and then writes without a lock, so concurrent
conditional writes can both win. This launcher runs moto's WSGI app behind a single lock, which
makes every request atomic. Every test and benchmark uses it (DESIGN.md section 10).

It also makes TransactWriteItems atomic in place. moto answers a cancelled transaction by putting
back a deep copy of every table it touched, taken before the transaction (O(table) per call),
after appending the cancelled writes' stream records. A stream iterator opened before that reads
the orphaned copy's stream forever. Here every condition is evaluated before anything is written,
so a cancelled transaction writes nothing and appends no stream record; a write that fails once
the conditions held (a validation error) rolls back only the items it touched, and the stream
records it appended.

Usage: moto_server.py [--host 127.0.0.1] [--port 0] [--models-source TEXT]
Prints "port N" on its first line once it listens (port 0 picks a free port). It exits when its
parent dies, even on SIGKILL (PR_SET_PDEATHSIG).

With SILOS_EMULATOR_PROFILE=FILE it also keeps, per operation, how many requests it served and
the time it spent on them, and rewrites FILE with that table once a second: where an emulator
bound run spends its time (the benches' figures).
"""

import argparse
import ctypes
import io
import json
import os
import signal
import sys
import threading
import time


def die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class Serialized:
    """A WSGI middleware that runs one request at a time, response body included."""

    def __init__(self, app, profile=None):
        self.app = app
        self.lock = threading.Lock()
        self.profile = profile
        self.stats = {}
        if profile:
            threading.Thread(target=self.write_profile, daemon=True).start()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".ReceiveMessage"):
            return self.long_poll(environ, start_response)
        return self.one(environ, start_response)

    def long_poll(self, environ, start_response):
        """SQS's ReceiveMessage with WaitTimeSeconds, outside the lock. moto waits out a long
        poll inside the request, which behind one lock stalled every other caller for as long
        as a subscriber waited (`silos tenants events --follow` waits a second at a time, so
        the emulator stood still most of the time). Here each look is a short poll under the
        lock, every 50 ms, until a message comes or the wait is over."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = None
        wait = request.get("WaitTimeSeconds") if isinstance(request, dict) else None
        if not isinstance(wait, int) or wait <= 0:
            environ["wsgi.input"] = io.BytesIO(raw)
            return self.one(environ, start_response)
        request["WaitTimeSeconds"] = 0
        body = json.dumps(request).encode()
        deadline = time.monotonic() + min(wait, 20)
        while True:
            answer = {}

            def capture(status, headers, exc_info=None):
                answer["status"], answer["headers"] = status, headers
                return lambda _data: None

            one = dict(environ)
            one["wsgi.input"] = io.BytesIO(body)
            one["CONTENT_LENGTH"] = str(len(body))
            data = b"".join(self.one(one, capture))
            done = not answer["status"].startswith("200") or time.monotonic() >= deadline
            if not done:
                try:
                    done = bool(json.loads(data or b"{}").get("Messages"))
                except ValueError:
                    done = True
            if done:
                start_response(answer["status"], answer["headers"])
                return [data]
            time.sleep(0.05)

    def one(self, environ, start_response):
        with self.lock:
            started = time.perf_counter()
            if self.profile and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                environ["silos.body"] = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(environ["silos.body"])
            body = self.app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close:
                    close()
                if self.profile:
                    op = operation(environ)
                    count, seconds = self.stats.get(op, (0, 0.0))
                    self.stats[op] = (count + 1, seconds + time.perf_counter() - started)

    def write_profile(self):
        while True:
            time.sleep(1)
            with self.lock:
                rows = sorted(self.stats.items(), key=lambda r: -r[1][1])
            lines = [f"{s:10.3f} s {n:8d} {op}" for op, (n, s) in rows]
            with open(self.profile + ".tmp", "w") as f:
                f.write("\n".join(lines) + "\n")
            os.replace(self.profile + ".tmp", self.profile)


def operation(environ):
    """The request's AWS operation: the JSON protocols' X-Amz-Target, else the query's Action,
    else the method and the first path segment (S3)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.split(".")[-1]
    query = environ.get("QUERY_STRING", "")
    for part in query.split("&"):
        if part.startswith("Action="):
            return part[len("Action="):]
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        # The query protocols (CloudFormation, IAM, SQS): Action is in the body.
        body = environ.get("silos.body", b"")
        for part in body.split(b"&"):
            if part.startswith(b"Action="):
                return part[len(b"Action="):].decode(errors="replace")
    return environ.get("REQUEST_METHOD", "?") + " " + environ.get("PATH_INFO", "/")[:24]


def install_change_set_updates():
    """Makes stack updates keep what CloudFormation keeps. ExecuteChangeSet updates the stack's
    parameters and tags: moto updates its resources and its template only, so a change set
    back to the stack's first parameters (a tier move there and back) reads as one without
    changes, and the stack keeps its first tags."""
    import datetime

    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name, stack_name=None):
        original(self, change_set_name, stack_name)
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name),
            None,
        )
        if change_set is not None and change_set.change_set_type == "UPDATE":
            stack = self.stacks[change_set.stack_id]
            # DescribeStacks' LastUpdatedTime, which moto never sets.
            stack.last_updated_time = datetime.datetime.now(datetime.timezone.utc)
            stack.parameters = change_set.parameters
            if change_set.tags:
                stack.tags = change_set.tags

    CloudFormationBackend.execute_change_set = execute_change_set

    # DescribeChangeSet of a change set that is gone answers ChangeSetNotFound, as AWS does
    # (moto answers a ValidationError that says a stack does not exist).
    from moto.cloudformation.exceptions import CloudFormationError, ValidationError

    class ChangeSetNotFound(CloudFormationError):
        code = "ChangeSetNotFound"

        def __init__(self, name):
            super().__init__(f"ChangeSet [{name}] does not exist")

    describe_change_set = CloudFormationBackend.describe_change_set

    def describe_change_set_or_not_found(self, change_set_name):
        try:
            return describe_change_set(self, change_set_name)
        except ValidationError:
            raise ChangeSetNotFound(change_set_name) from None

    CloudFormationBackend.describe_change_set = describe_change_set_or_not_found

    # A stack update of a resource whose model has no update (a DynamoDB table, among
    # others) loses the resource: moto records None for it, and the next reference to it
    # fails ("Fn::GetAtt references undefined resource"). CloudFormation updates such a
    # resource in place; keep it as it is, with its data.
    import moto.cloudformation.parsing as parsing

    update_resource = parsing.parse_and_update_resource

    def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
        updated = update_resource(logical_id, resource_json, resources_map, account_id, region_name)
        if updated is None and logical_id in resources_map._parsed_resources:
            return resources_map._parsed_resources[logical_id]
        return updated

    parsing.parse_and_update_resource = parse_and_update_resource


def install_drift_detection():
    """DetectStackDrift, DescribeStackDriftDetectionStatus and DescribeStackResourceDrifts,
    which moto does not implement, in AWS's shapes. Detection compares each resource's
    template properties (resolved as moto resolved them) with what moto's own backend holds,
    for the properties in DRIFT_CHECKS; a resource of another type is NOT_CHECKED, as AWS
    reports types it cannot check. It completes at once: DescribeStackDriftDetectionStatus
    answers DETECTION_COMPLETE from the first call."""
    import datetime
    import json
    import uuid

    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import clean_json
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    def lambda_function(account, region, physical_id):
        from moto.awslambda.models import lambda_backends

        f = lambda_backends[account][region].get_function(physical_id)
        return {
            "MemorySize": f.memory_size,
            "Timeout": f.timeout,
            "Handler": f.handler,
            "Runtime": f.run_time,
        }

    def dynamodb_table(account, region, physical_id):
        from moto.dynamodb.models import dynamodb_backends

        t = dynamodb_backends[account][region].get_table(physical_id)
        return {"BillingMode": t.billing_mode}

    def sqs_queue(account, region, physical_id):
        from moto.sqs.models import sqs_backends

        q = sqs_backends[account][region].get_queue(physical_id.rstrip("/").split("/")[-1])
        return {
            "VisibilityTimeout": q.visibility_timeout,
            "MessageRetentionPeriod": q.message_retention_period,
            "DelaySeconds": q.delay_seconds,
        }

    # Resource type -> (what the backend holds, by template property).
    DRIFT_CHECKS = {
        "AWS::Lambda::Function": lambda_function,
        "AWS::DynamoDB::Table": dynamodb_table,
        "AWS::SQS::Queue": sqs_queue,
    }

    detections = {}

    def now():
        return datetime.datetime.now(datetime.timezone.utc)

    def same(expected, actual):
        return str(expected) == str(actual)

    def detect(backend, stack):
        resource_map = stack.resource_map
        drifts = []
        for logical_id, resource_json in resource_map._resource_json_map.items():
            resource = resource_map._parsed_resources.get(logical_id)
            resource_type = resource_json.get("Type", "")
            physical_id = getattr(resource, "physical_resource_id", None) or ""
            drift = {
                "StackId": stack.stack_id,
                "LogicalResourceId": logical_id,
                "PhysicalResourceId": physical_id,
                "ResourceType": resource_type,
                "PropertyDifferences": [],
                "Timestamp": now(),
            }
            check = DRIFT_CHECKS.get(resource_type)
            if check is None or resource is None:
                drift["StackResourceDriftStatus"] = "NOT_CHECKED"
                drifts.append(drift)
                continue
            properties = clean_json(resource_json.get("Properties", {}), resource_map)
            try:
                live = check(backend.account_id, backend.region_name, physical_id)
            except Exception:
                drift["StackResourceDriftStatus"] = "DELETED"
                drift["ExpectedProperties"] = json.dumps(properties, default=str)
                drifts.append(drift)
                continue
            expected = {k: properties[k] for k in live if k in properties}
            actual = {k: live[k] for k in expected}
            differences = [
                {
                    "PropertyPath": f"/{k}",
                    "ExpectedValue": str(expected[k]),
                    "ActualValue": str(actual[k]),
                    "DifferenceType": "NOT_EQUAL",
                }
                for k in sorted(expected)
                if not same(expected[k], actual[k])
            ]
            drift["ExpectedProperties"] = json.dumps(expected, default=str, sort_keys=True)
            drift["ActualProperties"] = json.dumps(actual, default=str, sort_keys=True)
            drift["PropertyDifferences"] = differences
            drift["StackResourceDriftStatus"] = "MODIFIED" if differences else "IN_SYNC"
            drifts.append(drift)
        return drifts

    def find_stack(backend, name):
        for stack in backend.stacks.values():
            if name in (stack.name, stack.stack_id):
                return stack
        raise ValidationError(name, message=f"Stack [{name}] does not exist")

    def detect_stack_drift(self):
        backend = self.cloudformation_backend
        stack = find_stack(backend, self._get_param("StackName"))
        if stack.status.endswith("_IN_PROGRESS"):
            raise ValidationError(
                stack.name,
                message=f"Drift detection cannot be performed on stack in {stack.status} state",
            )
        drifts = detect(backend, stack)
        detection_id = str(uuid.uuid4())
        drifted = [d for d in drifts if d["StackResourceDriftStatus"] in ("MODIFIED", "DELETED")]
        detections[detection_id] = {
            "StackId": stack.stack_id,
            "StackDriftDetectionId": detection_id,
            "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC",
            "DetectionStatus": "DETECTION_COMPLETE",
            "DriftedStackResourceCount": len(drifted),
            "Timestamp": now(),
        }
        stack.silos_drifts = drifts
        return ActionResult({"StackDriftDetectionId": detection_id})

    def describe_stack_drift_detection_status(self):
        detection_id = self._get_param("StackDriftDetectionId")
        if detection_id not in detections:
            raise ValidationError(
                detection_id, message=f"Drift detection [{detection_id}] does not exist"
            )
        return ActionResult(detections[detection_id])

    def describe_stack_resource_drifts(self):
        backend = self.cloudformation_backend
        stack = find_stack(backend, self._get_param("StackName"))
        wanted = set(self._get_param("StackResourceDriftStatusFilters", []))
        drifts = [
            d
            for d in getattr(stack, "silos_drifts", [])
            if not wanted or d["StackResourceDriftStatus"] in wanted
        ]
        return ActionResult({"StackResourceDrifts": drifts})

    CloudFormationResponse.detect_stack_drift = detect_stack_drift
    CloudFormationResponse.describe_stack_drift_detection_status = (
        describe_stack_drift_detection_status
    )
    CloudFormationResponse.describe_stack_resource_drifts = describe_stack_resource_drifts
    _ = cloudformation_backends


def install_atomic_transactions():
    """Replaces moto's TransactWriteItems with one that checks first and rolls back in place."""
    import copy

    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.comparisons import get_filter_expression

    def key_of(table, op_type, op):
        attrs = op["Item"] if op_type == "Put" else op["Key"]
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = None
        if table.range_key_attr is not None:
            range_value = DynamoType(attrs[table.range_key_attr])
        return hash_value, range_value

    def restore(table, hash_value, range_value, item):
        """Puts one item back as it was (None: absent), touching nothing else."""
        if range_value is not None:
            if item is None:
                table.items[hash_value].pop(range_value, None)
            else:
                table.items[hash_value][range_value] = item
        elif item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        # 1. Every condition, against the state before the transaction; nothing is written.
        seen = set()
        errors = []
        plan = []
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            old = None
            try:
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table = self.get_table(op["TableName"])
                hash_value, range_value = key_of(table, op_type, op)
                unique = (table.name, hash_value, range_value)
                if unique in seen:
                    raise MultipleTransactionsException()
                seen.add(unique)
                current = table.get_item(hash_value, range_value)
                condition = op.get("ConditionExpression")
                if condition is not None:
                    check = get_filter_expression(
                        condition,
                        op.get("ExpressionAttributeNames"),
                        op.get("ExpressionAttributeValues"),
                    )
                    if not check.expr(current):
                        if (
                            op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                            and current
                        ):
                            old = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=old)
                plan.append((op_type, op, table, hash_value, range_value, current))
                errors.append((None, None, None))
            except MockValidationException:
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), old))
            except Exception as e:  # noqa: BLE001, as moto: the reason goes back to the caller
                errors.append((type(e).__name__, str(e), None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)

        # 2. The writes. Should one fail, only what this transaction touched is put back.
        saved = [
            (table, hash_value, range_value, copy.deepcopy(current))
            for _, _, table, hash_value, range_value, current in plan
        ]
        streams = {}
        for table, *_ in saved:
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        index = 0
        try:
            for index, (op_type, op, table, _, _, _) in enumerate(plan):
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(table.name, op["Item"])
                elif op_type == "Delete":
                    self.delete_item(table.name, op["Key"])
                elif op_type == "Update":
                    self.update_item(
                        table.name,
                        op["Key"],
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
        except Exception as e:  # noqa: BLE001, rolled back, then reported as moto would
            for table, hash_value, range_value, item in reversed(saved):
                restore(table, hash_value, range_value, item)
            for shard, length in streams.values():
                del shard.items[length:]
            if isinstance(e, MockValidationException):
                raise
            reasons = [(None, None, None)] * len(plan)
            reasons[index] = (type(e).__name__, str(e), None)
            raise TransactionCanceledException(reasons) from e

    DynamoDBBackend.transact_write_items = transact_write_items


# The namespaces of the registered models: moto finds them through CloudFormationModel's
# subclasses, which hold them weakly.
_MODELS = []


def register_models(source):
    """The CloudFormation types moto has no model for that a tenant stack's front door needs
    (a user pool and its client, an HTTP API): see emulator_cfn.py. Defining them registers
    them, before the first stack is created."""
    if source is None:
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "emulator_cfn.py"), encoding="utf-8") as f:
            source = f.read()
    namespace = {"__name__": "moto.silos_emulator"}
    exec(compile(source, "emulator_cfn.py", "exec"), namespace)
    _MODELS.append(namespace)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--models-source",
        help="emulator_cfn.py's text (silos passes it, as it passes this script with -c)",
    )
    args = parser.parse_args()
    die_with_parent()

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    install_atomic_transactions()
    install_change_set_updates()
    install_drift_detection()
    register_models(args.models_source)

    app = Serialized(
        DomainDispatcherApplication(create_backend_app),
        profile=os.environ.get("SILOS_EMULATOR_PROFILE"),
    )
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
