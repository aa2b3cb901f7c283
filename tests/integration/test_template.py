"""template.yaml, the archive state machine, the functions and events/*.json, checked offline.

Two kinds of checks:
- structural ones in plain Python (always run): every queue has a DLQ, Lambda queues' visibility is
  >= 6x the function timeout, ReportBatchItemFailures everywhere, GAS_* variables == Settings fields,
  events are SQS events wrapping SNS envelopes whose messages the core accepts, handlers honour
  partial batch failures;
- the AWS tools from .venv-tools (`make tools`): sam validate (--lint and plain), statelint on the
  substituted definition, and sam build. They skip, saying why, only when .venv-tools is missing;
  `make setup` creates it, so `make test` and CI never skip them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read template.yaml")
from gas.local.provision import load_template  # noqa: E402  (after the importorskip)

from gas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachines" / "archive.asl.json"
EVENTS = ROOT / "events"
TOOLS = ROOT / ".venv-tools" / "bin"
TOOLS_MISSING = "deployment tools missing: run `make tools` (creates .venv-tools with aws-sam-cli, cfn-lint, statelint)"

# Settings fields that are not names of resources (still passed, from Parameters or constants).
BEHAVIOUR_FIELDS = {"stack", "region", "archive_delay_s", "free_upload_limit_bytes",
                    "premium_upload_limit_bytes", "presigned_ttl_s", "sender_email", "app_url", "genome",
                    "signup_auto_confirm", "session_ttl_s"}


# ----------------------------------------------------------------------------- loading

@pytest.fixture(scope="module")
def template() -> dict:
    # the same loader the embedded stack provisions with: one reading of the template, not two
    return load_template(TEMPLATE)


def resources(tpl: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in tpl["Resources"].items() if v["Type"] == kind}


def getatt_target(value) -> str:
    assert isinstance(value, dict) and "Fn::GetAtt" in value, value
    return value["Fn::GetAtt"][0]


def functions(tpl: dict) -> dict[str, dict]:
    return resources(tpl, "AWS::Serverless::Function")


def function_timeout(tpl: dict, fn: dict) -> int:
    return int(fn["Properties"].get("Timeout", tpl["Globals"]["Function"].get("Timeout", 3)))


def sqs_events(fn: dict) -> list[dict]:
    return [e["Properties"] for e in fn["Properties"].get("Events", {}).values() if e["Type"] == "SQS"]


def substituted_asl(tpl: dict) -> str:
    subs = tpl["Resources"]["ArchiveStateMachine"]["Properties"]["DefinitionSubstitutions"]
    sample = {"ArchiveTopicArn": "arn:aws:sns:us-east-1:123456789012:gas-archive",
              "DefaultWaitSeconds": "300"}
    text = ASL.read_text()
    for name in subs:
        text = text.replace("${" + name + "}", sample[name])
    return text


# ----------------------------------------------------------------------------- template structure

def test_every_queue_has_a_dlq_with_five_receives(template):
    queues = resources(template, "AWS::SQS::Queue")
    dlqs = set()
    for name, q in queues.items():
        redrive = q["Properties"].get("RedrivePolicy")
        if redrive is None:
            continue
        target = getatt_target(redrive["deadLetterTargetArn"])
        assert target in queues, f"{name}: DLQ {target} is not a queue of this template"
        assert int(redrive["maxReceiveCount"]) == 5, name
        dlqs.add(target)
    work_queues = set(queues) - dlqs
    assert work_queues == {"RequestsQueue", "ResultsQueue", "ArchiveQueue", "ThawQueue", "RestoreQueue"}
    for name in work_queues:
        assert "RedrivePolicy" in queues[name]["Properties"], f"{name} has no DLQ"
    assert len(dlqs) == len(work_queues), "each queue needs its own DLQ"
    for name, q in queues.items():
        assert q["Properties"].get("SqsManagedSseEnabled") is True, f"{name} is not encrypted"


def test_lambda_queue_visibility_is_at_least_six_times_the_timeout(template):
    queues = resources(template, "AWS::SQS::Queue")
    seen = set()
    for name, fn in functions(template).items():
        events = sqs_events(fn)
        assert events, f"{name} has no SQS event"
        for ev in events:
            queue = getatt_target(ev["Queue"])
            seen.add(queue)
            visibility = int(queues[queue]["Properties"]["VisibilityTimeout"])
            timeout = function_timeout(template, fn)
            assert visibility >= 6 * timeout, f"{queue}: {visibility}s < 6 x {name} timeout {timeout}s"
    assert seen == {"ResultsQueue", "ArchiveQueue", "ThawQueue", "RestoreQueue"}
    # The worker's queue: long enough for a heartbeat interval (the worker extends it); a parameter
    # whose default is the AWS value and whose minimum still leaves room for a few heartbeats.
    vis = queues["RequestsQueue"]["Properties"]["VisibilityTimeout"]
    assert vis == {"Ref": "RequestVisibilitySeconds"}
    param = template["Parameters"]["RequestVisibilitySeconds"]
    assert int(param["Default"]) >= 120 and int(param["MinValue"]) >= 10


def test_every_function_reports_batch_item_failures(template):
    for name, fn in functions(template).items():
        for ev in sqs_events(fn):
            assert ev.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], name
            assert 1 <= int(ev["BatchSize"]) <= 10, f"{name}: keep batches small"
        code = ROOT / fn["Properties"]["CodeUri"]
        assert (code / "app.py").is_file(), f"{name}: {code}/app.py missing"
        spec = importlib.util.spec_from_file_location(f"fn_{name}_app", code / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert callable(getattr(module, "lambda_handler", None)), f"{name}: no lambda_handler"


def test_functions_use_the_core_layer_and_python312(template):
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.12" and glob["Handler"] == "app.lambda_handler"
    assert glob["Layers"] == [{"Ref": "CoreLayer"}]
    layer = template["Resources"]["CoreLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.12"
    content = ROOT / layer["Properties"]["ContentUri"]
    assert (content / "gas" / "settings.py").is_file(), "the layer folder must expose the gas package"
    assert (content / "requirements.txt").is_file()


def _settings_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(Settings)}


def test_globals_pass_exactly_the_settings_fields(template):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    gas_vars = {k for k in env if k.startswith("GAS_")}
    expected = {Settings.env_name(f) for f in _settings_fields()}
    assert gas_vars - expected == set(), "GAS_* variables that are no Settings field"
    assert expected - gas_vars == set(), "Settings fields not passed to the functions"
    # Resource fields point at resources of this template (the local stack maps them this way).
    for field in _settings_fields() - BEHAVIOUR_FIELDS:
        value = env[Settings.env_name(field)]
        target = value.get("Ref") or getatt_target(value)
        assert target in template["Resources"], f"{field} -> {target}"


def test_worker_user_data_passes_the_same_variables(template):
    lt = template["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script = lt["UserData"]["Fn::Base64"]["Fn::Sub"]
    passed = set(re.findall(r"^(GAS_[A-Z0-9_]+)=", script, flags=re.MULTILINE))
    expected = {Settings.env_name(f) for f in _settings_fields()}
    assert expected <= passed, f"missing in /etc/gas.env: {sorted(expected - passed)}"
    assert passed - expected <= {"GAS_CACHE_DIR"}


def test_topics_fan_out_to_their_queue_with_envelopes(template):
    subs = resources(template, "AWS::SNS::Subscription")
    policies = resources(template, "AWS::SQS::QueuePolicy")
    topics = set(resources(template, "AWS::SNS::Topic"))
    assert {s["Properties"]["TopicArn"]["Ref"] for s in subs.values()} == topics
    for name, sub in subs.items():
        p = sub["Properties"]
        assert p["Protocol"] == "sqs" and p["RawMessageDelivery"] is False, name
        queue = getatt_target(p["Endpoint"])
        allowing = [pol for pol in policies.values() if pol["Properties"]["Queues"] == [{"Ref": queue}]]
        assert len(allowing) == 1, f"{queue} needs one queue policy"
        stmt = allowing[0]["Properties"]["PolicyDocument"]["Statement"][0]
        assert stmt["Condition"]["ArnEquals"]["aws:SourceArn"] == p["TopicArn"], queue


def test_results_bucket_notifies_restores_and_buckets_are_private(template):
    buckets = resources(template, "AWS::S3::Bucket")
    for name, b in buckets.items():
        props = b["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values()), name
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name
    cors = buckets["InputsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0]
    assert "POST" in cors["AllowedMethods"]
    notif = buckets["ResultsBucket"]["Properties"]["NotificationConfiguration"]["TopicConfigurations"]
    assert notif == [{"Event": "s3:ObjectRestore:Completed", "Topic": {"Ref": "RestoreTopic"}}]
    assert "RestoreTopicPolicy" in buckets["ResultsBucket"]["DependsOn"]


def test_tables_match_the_core(template):
    from gas import store

    jobs = template["Resources"]["JobsTable"]["Properties"]
    users = template["Resources"]["UsersTable"]["Properties"]
    for props in (jobs, users):
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert jobs["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    assert users["KeySchema"] == [{"AttributeName": "user_id", "KeyType": "HASH"}]
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]]
               for i in jobs["GlobalSecondaryIndexes"]}
    assert indexes[store.BY_USER_INDEX] == ["user_id", "submitted_at"]
    assert indexes[store.BY_RESULTS_STATE_INDEX] == ["user_id", "results_state"]


def test_state_machine_definition_is_wired(template):
    sm = template["Resources"]["ArchiveStateMachine"]["Properties"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    assert placeholders == set(sm["DefinitionSubstitutions"])
    definition = json.loads(substituted_asl(template))
    states = definition["States"]
    wait = states["WaitBeforeArchive"]
    assert wait["Type"] == "Wait" and wait["SecondsPath"] == "$.wait_seconds"
    publish = states[wait["Next"]]
    assert publish["Resource"] == "arn:aws:states:::sns:publish"
    assert set(publish["Parameters"]["Message"]) == {"version", "job_id.$", "user_id.$"}
    for name, state in states.items():  # cfn-lint does not check Next targets
        for nxt in [state.get("Next"), state.get("Default"), *[c.get("Next") for c in state.get("Choices", [])]]:
            assert nxt is None or nxt in states, f"{name} -> {nxt}"


# ----------------------------------------------------------------------------- events

def test_every_function_has_an_sqs_event_wrapping_sns(template):
    names = {Path(fn["Properties"]["CodeUri"]).name for fn in functions(template).values()}
    assert {p.stem for p in EVENTS.glob("*.json")} >= names
    for path in EVENTS.glob("*.json"):
        event = json.loads(path.read_text())
        assert event["Records"], path.name
        for rec in event["Records"]:
            assert {"messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                    "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"} <= set(rec), path.name
            assert rec["eventSource"] == "aws:sqs" and rec["eventSourceARN"].startswith("arn:aws:sqs:")
            assert rec["md5OfBody"] == hashlib.md5(rec["body"].encode()).hexdigest(), path.name
            envelope = json.loads(rec["body"])
            assert envelope["Type"] == "Notification" and envelope["TopicArn"].startswith("arn:aws:sns:")
            assert isinstance(json.loads(envelope["Message"]), dict)


def test_event_messages_are_accepted_by_the_core():
    from gas import messages as m

    for name, model in [("notify", m.JobResult), ("archive", m.ArchiveRequest), ("thaw", m.ThawRequest)]:
        for rec in json.loads((EVENTS / f"{name}.json").read_text())["Records"]:
            m.parse_record(rec, model)
    restores = [ev for rec in json.loads((EVENTS / "restore.json").read_text())["Records"]
                for ev in m.restore_events(rec)]
    assert len(restores) == 1 and restores[0].key.endswith(".annot.vcf.gz")


# ----------------------------------------------------------------------------- handlers

DOMAIN = {  # function -> (module, function) the handler calls; the core lands them
    "notify": ("gas.notify", "notify_job_result"),
    "archive": ("gas.lifecycle", "archive_job"),
    "thaw": ("gas.lifecycle", "thaw_job"),
    "restore": ("gas.lifecycle", "complete_restore"),
}


def _load_handler(name: str):
    spec = importlib.util.spec_from_file_location(f"gas_fn_{name}", ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _context(name: str):
    return types.SimpleNamespace(function_name=f"gas-{name}", memory_limit_in_mb=256,
                                 invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:gas-{name}",
                                 aws_request_id="c6af9ac6-7b61-11e6-9a41-93e812345678")


@pytest.mark.parametrize("name", sorted(DOMAIN))
def test_handler_feeds_each_message_to_its_domain_function(name, monkeypatch):
    pytest.importorskip("aws_lambda_powertools",
                        reason="aws-lambda-powertools is not installed in .venv (add it to pyproject)")
    module_name, fn_name = DOMAIN[name]
    calls = []
    fake = types.ModuleType(module_name)
    setattr(fake, fn_name, lambda message, settings: calls.append(message))
    monkeypatch.setitem(sys.modules, module_name, fake)
    app = _load_handler(name)
    event = json.loads((EVENTS / f"{name}.json").read_text())

    assert app.lambda_handler(event, _context(name)) == {"batchItemFailures": []}
    assert len(calls) == len(event["Records"])

    # A failing domain call fails only its record; a poison body fails too (then goes to the DLQ).
    setattr(fake, fn_name, lambda message, settings: (_ for _ in ()).throw(RuntimeError("boom")))
    bad = json.loads(json.dumps(event))
    poison = dict(bad["Records"][0], messageId="poison", body="{not json")
    bad["Records"].append(poison)
    out = app.lambda_handler(bad, _context(name))
    failed = {f["itemIdentifier"] for f in out["batchItemFailures"]}
    assert failed == {r["messageId"] for r in bad["Records"]}


def test_restore_handler_skips_the_s3_test_event(monkeypatch):
    pytest.importorskip("aws_lambda_powertools",
                        reason="aws-lambda-powertools is not installed in .venv (add it to pyproject)")
    calls = []
    fake = types.ModuleType("gas.lifecycle")
    fake.complete_restore = lambda event, settings: calls.append(event)
    monkeypatch.setitem(sys.modules, "gas.lifecycle", fake)
    app = _load_handler("restore")
    event = json.loads((EVENTS / "restore.json").read_text())
    envelope = json.loads(event["Records"][0]["body"])
    envelope["Message"] = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                                      "Time": "2026-11-29T09:00:00.000Z", "Bucket": "gas-results"})
    event["Records"][0]["body"] = json.dumps(envelope)
    assert app.lambda_handler(event, _context("restore")) == {"batchItemFailures": []}
    assert calls == []


# ----------------------------------------------------------------------------- UI hosting (ECS on Fargate + ALB)

UI_CONDITION = "DeployUi"
STREAMLIT_PORT = 8501
STREAMLIT_WS_PING_S = 30   # Streamlit 1.67's default server.websocketPingInterval


def ui_resources(tpl: dict) -> dict[str, dict]:
    return {k: v for k, v in tpl["Resources"].items() if v.get("Condition") == UI_CONDITION}


def ui_one(tpl: dict, kind: str) -> tuple[str, dict]:
    (item,) = resources({"Resources": ui_resources(tpl)}, kind).items()
    return item


def refs(node) -> set[str]:
    from gas.local.provision import _refs_in
    return _refs_in(node)


def attributes(pairs: list[dict]) -> dict[str, str]:
    return {p["Key"]: str(p["Value"]) for p in pairs}


def test_ui_hosting_is_optional_and_self_contained(template):
    assert template["Parameters"]["UiImageUri"]["Default"] == ""
    assert template["Conditions"][UI_CONDITION] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "UiImageUri"}, ""]}]}
    ui = ui_resources(template)
    kinds = {r["Type"] for r in ui.values()}
    assert {"AWS::ECS::Cluster", "AWS::ECS::TaskDefinition", "AWS::ECS::Service", "AWS::Logs::LogGroup",
            "AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::TargetGroup",
            "AWS::ElasticLoadBalancingV2::Listener", "AWS::IAM::Role", "AWS::EC2::SecurityGroup"} <= kinds
    # Nothing outside the condition may refer to a UI resource (it would not exist without an image).
    for lid, res in template["Resources"].items():
        if lid not in ui:
            assert not refs(res) & set(ui), f"{lid} refers to a UI resource"
    for name, out in template["Outputs"].items():
        if refs(out) & set(ui):
            assert out.get("Condition") == UI_CONDITION, name
    assert "UiUrl" in template["Outputs"] and template["Outputs"]["UiUrl"]["Value"] == {"Ref": "AppUrl"}
    # An image without a certificate is refused before anything is created (HTTPS only).
    (rule,) = [r for r in template["Rules"].values() if refs(r["RuleCondition"]) == {"UiImageUri"}]
    assert any(refs(a["Assert"]) == {"UiCertificateArn"} for a in rule["Assertions"])


def test_ui_https_listener_with_certificate_and_http_only_redirects(template):
    _, lb = ui_one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    tg_id, _ = ui_one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert lb["Properties"]["Scheme"] == "internet-facing"
    listeners = {int(r["Properties"]["Port"]): r["Properties"]
                 for r in resources({"Resources": ui_resources(template)}, "AWS::ElasticLoadBalancingV2::Listener").values()}
    assert set(listeners) == {443, 80}
    https, http = listeners[443], listeners[80]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": {"Ref": "UiCertificateArn"}}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2-"), "TLS 1.2+ with 1.3"
    assert https["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": tg_id}}]
    assert http["Protocol"] == "HTTP"
    (action,) = http["DefaultActions"]  # nothing is ever served over plain HTTP
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"]["Protocol"] == "HTTPS" and str(action["RedirectConfig"]["Port"]) == "443"
    assert action["RedirectConfig"]["StatusCode"] == "HTTP_301"


def test_ui_target_group_is_sticky_and_checks_streamlit_health(template):
    _, tg = ui_one(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    props = tg["Properties"]
    attrs = attributes(props["TargetGroupAttributes"])
    assert attrs["stickiness.enabled"] == "true" and attrs["stickiness.type"] == "lb_cookie"
    assert int(attrs["stickiness.lb_cookie.duration_seconds"]) >= 3600
    assert props["HealthCheckPath"] == "/_stcore/health"
    assert props["TargetType"] == "ip" and int(props["Port"]) == STREAMLIT_PORT


def test_ui_load_balancer_idle_timeout_outlasts_websocket_pings(template):
    _, lb = ui_one(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    idle = int(attributes(lb["Properties"]["LoadBalancerAttributes"])["idle_timeout.timeout_seconds"])
    assert idle >= 300 and idle >= 10 * STREAMLIT_WS_PING_S
    assert idle <= 4000  # the ALB maximum


def test_ui_network_admits_the_internet_to_the_load_balancer_only(template):
    ui = ui_resources(template)
    lb_sg = ui["UiLoadBalancerSecurityGroup"]["Properties"]
    task_sg = ui["UiTaskSecurityGroup"]["Properties"]
    assert {(r["FromPort"], r["ToPort"], r["CidrIp"]) for r in lb_sg["SecurityGroupIngress"]} == {
        (443, 443, "0.0.0.0/0"), (80, 80, "0.0.0.0/0")}
    assert [(r["FromPort"], r.get("DestinationSecurityGroupId")) for r in lb_sg["SecurityGroupEgress"]] == [
        (STREAMLIT_PORT, {"Ref": "UiTaskSecurityGroup"})]
    assert "SecurityGroupIngress" not in task_sg
    ingress = [r["Properties"] for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"]["GroupId"] == {"Ref": "UiTaskSecurityGroup"}]
    assert ingress == [{**ingress[0], "FromPort": STREAMLIT_PORT, "ToPort": STREAMLIT_PORT,
                        "SourceSecurityGroupId": {"Ref": "UiLoadBalancerSecurityGroup"}}]
    assert "CidrIp" not in ingress[0]
    assert [(r["FromPort"], r["ToPort"]) for r in task_sg["SecurityGroupEgress"]] == [(443, 443)]
    for sg in (lb_sg, task_sg):
        assert sg["VpcId"] == {"Ref": "WorkerVpcId"}


def _statements(role: dict) -> list[dict]:
    return [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# Every action the UI's code paths call (ui/ and the gas modules behind it); nothing else.
UI_ALLOWED_ACTIONS = {
    "dynamodb": {"GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},
    "s3": {"PutObject", "GetObject", "DeleteObject", "ListBucket"},
    "sns": {"Publish"},
    "cognito-idp": {"DescribeUserPool", "AdminDeleteUser"},
}


def test_ui_task_role_is_least_privilege(template):
    ui = ui_resources(template)
    td = ui["UiTaskDefinition"]["Properties"]
    role_id = getatt_target(td["TaskRoleArn"])
    role = ui[role_id]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert "ManagedPolicyArns" not in role["Properties"]
    grants: dict[str, set[str]] = {}   # action -> resources (logical ids, "Id/*" for objects or indexes)
    for st in _statements(role):
        assert st["Effect"] == "Allow" and "NotAction" not in st and "NotResource" not in st
        for action in _as_list(st["Action"]):
            service, _, name = action.partition(":")
            assert "*" not in action, f"wildcard action {action}"
            assert name in UI_ALLOWED_ACTIONS.get(service, set()), f"the UI does not need {action}"
            for res in _as_list(st["Resource"]):
                assert res != "*", f"{action} on every resource"
                if isinstance(res, dict) and "Fn::Sub" in res:
                    text = res["Fn::Sub"]
                    m = re.fullmatch(r"\$\{(\w+)\.Arn\}/(\*|index/\*)", text)
                    assert m, f"{action}: unexpected resource pattern {text}"
                    grants.setdefault(action, set()).add(f"{m.group(1)}/*")
                else:
                    (target,) = refs(res)
                    assert target in template["Resources"], f"{action} on {target}"
                    grants.setdefault(action, set()).add(target)
    # S3: upload into inputs only; results are read-only; no bucket-wide writes.
    assert grants["s3:PutObject"] == {"InputsBucket/*"}
    assert grants["s3:DeleteObject"] == {"InputsBucket/*"}
    assert grants["s3:GetObject"] == {"InputsBucket/*", "ResultsBucket/*"}
    assert grants["s3:ListBucket"] == {"InputsBucket", "ResultsBucket"}
    assert grants["sns:Publish"] == {"JobRequestsTopic", "ThawTopic"}
    assert all(v == {"UserPool"} for k, v in grants.items() if k.startswith("cognito-idp:"))
    assert not any(k.startswith(("ses:", "sesv2:", "states:", "sqs:")) for k in grants)
    # DynamoDB: jobs (with the indexes of the per-user queries), users, sessions; no deletes but
    # of sessions (sign-out), no job updates (the worker and the functions do those).
    def tables(action: str) -> set[str]:
        return {r.split("/")[0] for r in grants.get(action, set())}

    assert tables("dynamodb:GetItem") == {"JobsTable", "UsersTable", "SessionsTable"}
    assert grants["dynamodb:Query"] == {"JobsTable", "JobsTable/*"}
    assert tables("dynamodb:PutItem") == {"JobsTable", "UsersTable", "SessionsTable"}
    assert tables("dynamodb:UpdateItem") == {"UsersTable"}
    assert tables("dynamodb:DeleteItem") == {"SessionsTable"}
    assert {r for v in grants.values() for r in v if r.endswith("/*") and "Table" in r} == {"JobsTable/*"}
    dynamo = set().union(*(v for k, v in grants.items() if k.startswith("dynamodb:")))
    assert {r.split("/")[0] for r in dynamo} <= set(resources(template, "AWS::DynamoDB::Table"))


def test_ui_container_gets_the_same_environment_as_the_functions(template):
    td = ui_resources(template)["UiTaskDefinition"]["Properties"]
    (container,) = td["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    functions_env = {k: v for k, v in template["Globals"]["Function"]["Environment"]["Variables"].items()
                     if k.startswith("GAS_")}
    ui_gas = {k: v for k, v in env.items() if k.startswith("GAS_")}
    assert set(ui_gas) == set(functions_env), "UI and functions must get the same GAS_* variables"
    for name, value in functions_env.items():
        assert ui_gas[name] == value, f"{name}: the UI gets {ui_gas[name]!r}, the functions {value!r}"
    assert container["Image"] == {"Ref": "UiImageUri"}
    assert [p["ContainerPort"] for p in container["PortMappings"]] == [STREAMLIT_PORT]
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "UiLogGroup"}
    assert int(ui_resources(template)["UiLogGroup"]["Properties"]["RetentionInDays"]) <= 90
    assert td["RequiresCompatibilities"] == ["FARGATE"] and td["NetworkMode"] == "awsvpc"


def test_ui_service_runs_behind_the_https_listener(template):
    ui = ui_resources(template)
    svc = ui["UiService"]
    props = svc["Properties"]
    assert props["LaunchType"] == "FARGATE" and props["DesiredCount"] == {"Ref": "UiDesiredCount"}
    (lb,) = props["LoadBalancers"]
    (container,) = ui["UiTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert lb["ContainerName"] == container["Name"] and int(lb["ContainerPort"]) == STREAMLIT_PORT
    assert lb["TargetGroupArn"] == {"Ref": "UiTargetGroup"}
    assert "UiHttpsListener" in _as_list(svc["DependsOn"])
    assert props["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] == [{"Ref": "UiTaskSecurityGroup"}]
    assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}


def test_ui_image_runs_streamlit_on_all_interfaces_of_the_container():
    dockerfile = (ROOT / "ui" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.12-slim\b", dockerfile, flags=re.MULTILINE)
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    args = json.loads(cmd)
    assert args[:3] == ["streamlit", "run", "ui/app.py"]
    opts = dict(zip(args[3::2], args[4::2]))
    from gas.local.stack import UI_FLAGS
    assert opts == {"--server.address": "0.0.0.0", "--server.port": str(STREAMLIT_PORT),
                    "--server.headless": "true", **dict(zip(UI_FLAGS[::2], UI_FLAGS[1::2]))}
    assert re.search(r"^USER (?!root)\w+", dockerfile, flags=re.MULTILINE), "run as a non-root user"
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") + 1:] and "!ui/" in ignore and "!gas/" in ignore
    # ...while the local stack keeps the UI on the loopback interface.
    assert '"--server.address", "127.0.0.1"' in (ROOT / "gas" / "local" / "stack.py").read_text()


# ----------------------------------------------------------------------------- AWS tools (.venv-tools)

def _tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(TOOLS_MISSING)
        pytest.skip(TOOLS_MISSING)
    return path


def _run(args: list, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", **kw.pop("env", {}))
    return subprocess.run([str(a) for a in args], cwd=kw.pop("cwd", ROOT), env=env, capture_output=True, text=True, check=False,
                          timeout=kw.pop("timeout", 300), **kw)


def test_sam_validate_lint():
    out = _run([_tool("sam"), "validate", "--lint", "--template", TEMPLATE])
    assert out.returncode == 0, out.stdout + out.stderr


def test_sam_validate_plain():
    out = _run([_tool("sam"), "validate", "--region", "us-east-1", "--template", TEMPLATE])
    assert out.returncode == 0, out.stdout + out.stderr


def test_statelint_accepts_the_substituted_definition(template, tmp_path):
    definition = tmp_path / "archive.asl.json"
    definition.write_text(substituted_asl(template))
    out = _run([_tool("statelint"), definition])
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


@pytest.mark.slow
def test_sam_build(tmp_path):
    sam = _tool("sam")
    python312 = subprocess.run([str(ROOT / "scripts" / "find-python312.sh")], capture_output=True, check=False,
                               text=True).stdout.strip()
    if not python312:
        pytest.skip("no Python 3.12 interpreter found (scripts/find-python312.sh)")
    path = os.path.dirname(python312) + os.pathsep + os.environ.get("PATH", "")
    build = tmp_path / "build"
    out = _run([sam, "build", "--template", TEMPLATE, "--build-dir", build,
                "--no-cached"], env={"PATH": path}, cwd=tmp_path)  # sam writes .aws-sam/ in its cwd
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    layer = build / "CoreLayer" / "python"
    assert (layer / "gas" / "settings.py").is_file(), "the core package is not in the layer"
    assert (layer / "aws_lambda_powertools").is_dir()
    for name in DOMAIN:
        fn = build / f"{name.capitalize()}Function" / "app.py"
        assert fn.is_file(), fn
