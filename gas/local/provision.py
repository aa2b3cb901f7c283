"""template.yaml -> local resources on any AWS-compatible endpoint (the embedded moto server).

Why not moto's CloudFormation: it "succeeds" on a SAM template while silently skipping functions,
the state machine, subscriptions, policies and bucket notifications. This module reads the same
template the cloud deploys and creates each resource itself with boto3, so local and cloud cannot
drift; every resource of the template ends up in exactly one of four lists of the result:

- created locally (buckets, tables, topics, queues, subscriptions, the state machine, SES sender,
  the Cognito user pool and its client);
- registered (``AWS::Serverless::Function``: run in-process by `gas.local.pollers`;
  ``AWS::Serverless::LayerVersion``: the code is already importable from the checkout);
- accepted, not enforced (queue and topic policies: moto accepts every call);
- cloud-only (EC2, auto scaling, IAM, other Cognito types, CloudWatch, log groups, the UI's ECS service and
  load balancer ...): printed by `gas up`, whatever their template condition says (a cloud-only
  resource is never created here, so it is listed even when its condition is false).

A type in none of these lists raises `UnsupportedResource` naming it: nothing is skipped silently.

Physical names. CloudFormation would generate names; locally a resource linked to a
`gas.settings.Settings` field through the template's ``Globals.Function.Environment.Variables``
(``GAS_JOBS_TABLE: !Ref JobsTable`` links ``JobsTable`` to ``Settings.jobs_table``) gets that
field's value, so local names are the `Settings` defaults the rest of the code and the docs use.
An explicit name property (``TableName``, ``QueueName``...) wins over both. A dead-letter queue is
named ``<its queue's name>-dlq``; anything else ``<stack>-<kebab-case logical id>``.

Parameters: the template's ``Default``; ``parameters=`` overrides; a parameter without a default
that a ``GAS_*`` variable refers to (``SenderEmail``) takes that Settings field's value. A
parameter without any value is an error only when a local resource actually needs it
(``WorkerVpcId`` and friends feed cloud-only resources only).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import yaml

from gas.settings import Settings

ACCOUNT_ID = "123456789012"  # moto's default account
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = ROOT / "template.yaml"

# Types with no local counterpart, by prefix or exact name: listed, never created.
CLOUD_ONLY_PREFIXES = (
    "AWS::EC2::", "AWS::AutoScaling::", "AWS::ApplicationAutoScaling::", "AWS::IAM::",
    "AWS::Cognito::", "AWS::CloudWatch::", "AWS::Logs::", "AWS::XRay::", "AWS::Lambda::",
    "AWS::SSM::", "AWS::KMS::", "AWS::Route53::", "AWS::CertificateManager::",
    "AWS::ElasticLoadBalancingV2::", "AWS::ECS::", "AWS::CloudFront::",
)
# Types that are read but create nothing enforceable in moto.
NOT_ENFORCED_TYPES = ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy")

CLOUD_ONLY_REASONS = {
    "AWS::EC2::": "EC2: the annotator runs as a local process",
    "AWS::AutoScaling::": "auto scaling: local workers are a fixed number of processes",
    "AWS::ApplicationAutoScaling::": "application auto scaling",
    "AWS::IAM::": "IAM: moto accepts every call; checked by sam validate --lint only",
    "AWS::Cognito::": "Cognito: only the user pool and its client exist locally",
    "AWS::CloudWatch::": "CloudWatch alarms/metrics",
    "AWS::Logs::": "log groups: local functions log to the stack's stdout",
    "AWS::Lambda::": "Lambda resources: functions run in-process through local pollers",
    "AWS::ECS::": "ECS: locally the UI runs as `streamlit run ui/app.py` on 127.0.0.1",
    "AWS::ElasticLoadBalancingV2::": "load balancer: locally the UI runs as `streamlit run ui/app.py` on "
                                     "127.0.0.1 (plain HTTP, one process)",
    "AWS::CertificateManager::": "TLS certificate: locally the UI is plain HTTP on 127.0.0.1",
}
# A template condition that switches a whole cloud-only part on names that part better than its
# resource types do (the UI's security groups are EC2, its roles IAM, but belong to the UI hosting).
CLOUD_ONLY_CONDITION_REASONS = {
    "DeployUi": "UI hosting (ECS on Fargate behind an HTTPS load balancer; template condition DeployUi): "
                "locally the UI runs as `streamlit run ui/app.py` on 127.0.0.1 (gas up)",
}


class ProvisionError(RuntimeError):
    """The template cannot be stood up locally (bad reference, missing parameter...)."""


class UnsupportedResource(ProvisionError):
    """A resource type the local stack neither creates nor knows to be cloud-only."""


# ----------------------------------------------------------------------------- loading

class CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags as {"Ref": x} / {"Fn::X": y}."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    return yaml.load(Path(path).read_text(), Loader=CfnLoader)


# ----------------------------------------------------------------------------- result

@dataclass
class SqsEventSource:
    """One ``Events: {X: {Type: SQS}}`` entry of a function."""

    name: str
    queue_logical_id: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_batching_window_s: int = 0
    maximum_concurrency: int | None = None
    enabled: bool = True


@dataclass
class FunctionSpec:
    """An ``AWS::Serverless::Function`` as the local pollers run it."""

    logical_id: str
    name: str
    code_dir: Path
    handler: str              # "app.lambda_handler"
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]   # Globals variables + the function's own, resolved
    sqs_events: list[SqsEventSource] = field(default_factory=list)

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass
class Provisioned:
    """What `provision` did. ``resources[logical_id]`` holds the Ref value and attributes."""

    stack: str
    region: str
    endpoint: str | None
    parameters: dict[str, str]
    resources: dict[str, dict[str, str]] = field(default_factory=dict)   # id -> {"Ref": .., "Arn": ..}
    types: dict[str, str] = field(default_factory=dict)                  # id -> type (created/registered)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)
    not_enforced: list[str] = field(default_factory=list)                # "Id (Type): why"
    cloud_only: list[str] = field(default_factory=list)                  # "Id (Type): why"
    env: dict[str, str] = field(default_factory=dict)                    # GAS_* and POWERTOOLS_*

    def ref(self, logical_id: str) -> str:
        return self.resources[logical_id]["Ref"]

    def att(self, logical_id: str, name: str) -> str:
        return self.resources[logical_id][name]

    @property
    def cloud_only_ids(self) -> list[str]:
        """Resources that are wholly cloud-only (not the "Id.Part" lines about a feature of one)."""
        ids = [line.split(" ", 1)[0] for line in self.cloud_only]
        return [i for i in ids if "." not in i]

    def settings(self) -> Settings:
        """Settings as a process started with `env` would read them."""
        values: dict[str, Any] = {}
        for f in fields(Settings):
            raw = self.env.get(Settings.env_name(f.name))
            if raw:
                values[f.name] = int(raw) if f.type in ("int", int) else raw
        return Settings(**values)

    def summary(self) -> dict[str, Any]:
        return {"stack": self.stack, "region": self.region, "endpoint": self.endpoint,
                "created": {k: v for k, v in self.types.items()
                            if v not in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")},
                "functions": {k: {"name": f.name, "queues": [e.queue_url for e in f.sqs_events]}
                              for k, f in self.functions.items()},
                "layers": self.layers, "not_enforced": self.not_enforced,
                "cloud_only": self.cloud_only}


# ----------------------------------------------------------------------------- helpers

def kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def _s(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def resource_cloud_only_reason(res: dict[str, Any]) -> str | None:
    """Why this template resource is not created locally, or None when it is (or is unknown)."""
    reason = cloud_only_reason(res.get("Type", ""))
    if reason is None:
        return None
    return CLOUD_ONLY_CONDITION_REASONS.get(res.get("Condition") or "", reason)


def cloud_only_reason(kind: str) -> str | None:
    if kind in _CREATORS:  # created locally although its family is cloud-only (Cognito user pools)
        return None
    for prefix in CLOUD_ONLY_PREFIXES:
        if kind.startswith(prefix):
            return CLOUD_ONLY_REASONS.get(prefix, "no local counterpart")
    return None


_REF_RE = re.compile(r"\$\{([^}!][^}]*)\}")


def _refs_in(node: Any) -> set[str]:
    """Logical ids / parameters a value refers to (Ref, GetAtt, Sub)."""
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                out.add(v)
            elif k == "Fn::GetAtt":
                out.add(v[0] if isinstance(v, list) else v.split(".", 1)[0])
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                out |= {m.split(".", 1)[0] for m in _REF_RE.findall(text)}
                if isinstance(v, list) and len(v) > 1:
                    out -= set(v[1])
                    out |= _refs_in(v[1])
            else:
                out |= _refs_in(v)
    elif isinstance(node, list):
        for v in node:
            out |= _refs_in(v)
    return out


# ----------------------------------------------------------------------------- provisioner

class _Provisioner:
    def __init__(self, template: dict[str, Any], template_dir: Path, clients: Callable[[str], Any],
                 settings: Settings, parameters: dict[str, Any], endpoint: str | None) -> None:
        self.t = template
        self.dir = template_dir
        self.client = clients
        self.settings = settings
        self.resources_tpl: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.globals_fn: dict[str, Any] = template.get("Globals", {}).get("Function", {})
        self.global_env: dict[str, Any] = self.globals_fn.get("Environment", {}).get("Variables", {})
        self.field_of = self._settings_links()
        self.params = self._parameters(parameters)
        self.out = Provisioned(stack=settings.stack, region=settings.region, endpoint=endpoint,
                               parameters={k: v for k, v in self.params.items() if v is not None})
        self._in_progress: set[str] = set()
        self._done: set[str] = set()
        self.conditions = template.get("Conditions", {})

    # ---- names and parameters

    def _settings_links(self) -> dict[str, str]:
        """logical id or parameter -> Settings field, from ``GAS_X: !Ref Y`` / ``!GetAtt Y.Name``."""
        names = {f.name for f in fields(Settings)}
        links: dict[str, str] = {}
        for var, value in self.global_env.items():
            if not var.startswith("GAS_"):
                continue
            fname = var[4:].lower()
            if fname not in names or not isinstance(value, dict):
                continue
            if "Ref" in value:
                links[value["Ref"]] = fname
            elif "Fn::GetAtt" in value:
                links[value["Fn::GetAtt"][0]] = fname
        return links

    def _parameters(self, overrides: dict[str, Any]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name, spec in (self.t.get("Parameters") or {}).items():
            if name in overrides:
                value: Any = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            elif name in self.field_of:
                value = getattr(self.settings, self.field_of[name])
            else:
                value = None
            if value is not None and str(spec.get("Type", "")).startswith("List<") and isinstance(value, list):
                value = ",".join(map(str, value))
            out[name] = None if value is None else _s(value)
        unknown = set(overrides) - set(out)
        if unknown:
            raise ProvisionError(f"unknown template parameters: {sorted(unknown)}")
        return out

    def physical_name(self, lid: str, props: dict[str, Any], name_prop: str | None) -> str:
        if name_prop and props.get(name_prop) is not None:
            return _s(self.resolve(props[name_prop]))
        if lid in self.field_of:
            return str(getattr(self.settings, self.field_of[lid]))
        for other_id, other in self.resources_tpl.items():  # a DLQ: <queue>-dlq
            if other.get("Type") != "AWS::SQS::Queue":
                continue
            target = ((other.get("Properties") or {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn")
            if isinstance(target, dict) and "Fn::GetAtt" in target and target["Fn::GetAtt"][0] == lid:
                return self.physical_name(other_id, other.get("Properties") or {}, "QueueName") + "-dlq"
        return f"{self.settings.stack}-{kebab(lid)}"

    # ---- intrinsic functions

    def pseudo(self, name: str) -> str:
        values = {"AWS::StackName": self.settings.stack, "AWS::Region": self.settings.region,
                  "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                  "AWS::StackId": f"arn:aws:cloudformation:{self.settings.region}:{ACCOUNT_ID}:stack/"
                                  f"{self.settings.stack}/local"}
        if name not in values:
            raise ProvisionError(f"unsupported pseudo parameter {name}")
        return values[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.params:
            value = self.params[name]
            if value is None:
                raise ProvisionError(f"parameter {name} has no default: pass it (parameters={{{name!r}: ...}})")
            return value
        return self.attribute(name, "Ref")

    def attribute(self, lid: str, att: str) -> str:
        if lid not in self.resources_tpl:
            raise ProvisionError(f"reference to unknown resource or parameter {lid!r}")
        self.ensure(lid)
        attrs = self.out.resources.get(lid)
        if attrs is None:
            kind = self.resources_tpl[lid]["Type"]
            raise ProvisionError(f"a local resource refers to {lid} ({kind}), which is cloud-only")
        if att not in attrs:
            raise ProvisionError(f"{lid} has no attribute {att!r} locally (known: {sorted(attrs)})")
        return attrs[att]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(v) for v in node if v != {"Ref": "AWS::NoValue"}]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                lid, att = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attribute(lid, att)
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return _s(sep).join(_s(x) for x in self.resolve(items))
            if key == "Fn::Select":
                idx, items = self.resolve(arg)
                return items[int(idx)]
            if key == "Fn::Split":
                sep, text = self.resolve(arg)
                return text.split(sep)
            if key == "Fn::Base64":
                import base64
                return base64.b64encode(_s(self.resolve(arg)).encode()).decode()
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = self.resolve(arg)
                return _s(a) == _s(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::FindInMap":
                m, k1, k2 = self.resolve(arg)
                return self.t["Mappings"][m][k1][k2]
            if key == "Fn::GetAZs":
                return [self.settings.region + s for s in "abc"]
            if key.startswith("Fn::"):
                raise ProvisionError(f"intrinsic function {key} is not supported locally")
        return {k: self.resolve(v) for k, v in node.items() if v != {"Ref": "AWS::NoValue"}}

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in variables:
                return _s(variables[name])
            if "." in name and not name.startswith("AWS::"):
                lid, att = name.split(".", 1)
                return _s(self.attribute(lid, att))
            return _s(self.ref(name))

        return re.sub(r"\$\{!", "${", _REF_RE.sub(one, text))

    # ---- resources

    def ensure(self, lid: str) -> None:
        if lid in self._done:
            return
        if lid in self._in_progress:
            raise ProvisionError(f"circular reference through {lid}")
        self._in_progress.add(lid)
        try:
            res = self.resources_tpl[lid]
            cond = res.get("Condition")
            reason = resource_cloud_only_reason(res)
            if reason is not None:  # never created here, so listed whatever its condition says
                self.out.cloud_only.append(f"{lid} ({res['Type']}): {reason}")
            elif cond and not self.condition(cond):
                self.out.not_enforced.append(f"{lid} ({res['Type']}): condition {cond} is false, not created")
            else:
                self._create(lid, res)
        finally:
            self._in_progress.discard(lid)
        self._done.add(lid)

    def _create(self, lid: str, res: dict[str, Any]) -> None:
        kind = res["Type"]
        creator = _CREATORS.get(kind)
        if creator is None:
            raise UnsupportedResource(f"{lid}: resource type {kind} is neither provisioned locally nor "
                                      f"known to be cloud-only (add it to gas/local/provision.py)")
        depends = res.get("DependsOn") or []
        for dep in [depends] if isinstance(depends, str) else depends:
            self.ensure(dep)
        creator(self, lid, res.get("Properties") or {})
        self.out.types[lid] = kind

    def run(self) -> Provisioned:
        for lid, res in self.resources_tpl.items():  # fail before creating anything
            kind = res.get("Type", "")
            if cloud_only_reason(kind) is None and kind not in _CREATORS:
                raise UnsupportedResource(f"{lid}: resource type {kind} is neither provisioned locally nor "
                                          f"known to be cloud-only (add it to gas/local/provision.py)")
        for lid in self.resources_tpl:
            self.ensure(lid)
        self.out.env = {k: _s(self.resolve(v)) for k, v in self.global_env.items()}
        return self.out


# ----------------------------------------------------------------------------- creators

def _bucket(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    s3 = p.client("s3")
    name = p.physical_name(lid, props, "BucketName")
    if p.settings.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": p.settings.region})
    p.out.resources[lid] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}",
                            "DomainName": f"{name}.s3.amazonaws.com",
                            "RegionalDomainName": f"{name}.s3.{p.settings.region}.amazonaws.com"}
    props = p.resolve({k: v for k, v in props.items() if k != "BucketName"})
    handled = {"Tags"}
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
        handled.add("PublicAccessBlockConfiguration")
    if "BucketEncryption" in props:
        rules = [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
                  **({"BucketKeyEnabled": r["BucketKeyEnabled"]} if "BucketKeyEnabled" in r else {})}
                 for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        handled.add("BucketEncryption")
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
        handled.add("OwnershipControls")
    if "CorsConfiguration" in props:
        rules = []
        for r in props["CorsConfiguration"]["CorsRules"]:
            rule: dict[str, Any] = {"AllowedMethods": r["AllowedMethods"], "AllowedOrigins": r["AllowedOrigins"]}
            for src, dst in (("Id", "ID"), ("AllowedHeaders", "AllowedHeaders"),
                             ("ExposedHeaders", "ExposeHeaders"), ("MaxAge", "MaxAgeSeconds")):
                if src in r:
                    rule[dst] = int(r[src]) if dst == "MaxAgeSeconds" else r[src]
            rules.append(rule)
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        handled.add("CorsConfiguration")
    if "LifecycleConfiguration" in props:
        rules = []
        for r in props["LifecycleConfiguration"]["Rules"]:
            rule = {"ID": r.get("Id", "rule"), "Status": r["Status"], "Filter": {"Prefix": r.get("Prefix", "")}}
            if "AbortIncompleteMultipartUpload" in r:
                rule["AbortIncompleteMultipartUpload"] = {
                    "DaysAfterInitiation": int(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
            if "ExpirationInDays" in r:
                rule["Expiration"] = {"Days": int(r["ExpirationInDays"])}
            rules.append(rule)
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
        handled.add("LifecycleConfiguration")
        p.out.not_enforced.append(f"{lid}.LifecycleConfiguration: stored, never applied by moto")
    if "NotificationConfiguration" in props:
        nc = props["NotificationConfiguration"]
        config: dict[str, Any] = {}
        for src, dst, arn_key in (("TopicConfigurations", "TopicConfigurations", "Topic"),
                                  ("QueueConfigurations", "QueueConfigurations", "Queue"),
                                  ("LambdaConfigurations", None, "Function")):
            for i, c in enumerate(nc.get(src, [])):
                if dst is None:
                    raise ProvisionError(f"{lid}: S3 -> Lambda notifications have no local poller")
                entry: dict[str, Any] = {"Id": f"{lid}-{src}-{i}", f"{arn_key}Arn": c[arn_key],
                                         "Events": [c["Event"]]}
                if "Filter" in c:
                    entry["Filter"] = {"Key": {"FilterRules": c["Filter"]["S3Key"]["Rules"]}}
                config.setdefault(dst, []).append(entry)
        if nc.get("EventBridgeConfiguration"):
            p.out.not_enforced.append(f"{lid}.NotificationConfiguration.EventBridgeConfiguration: cloud-only")
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
        handled.add("NotificationConfiguration")
    for k in sorted(set(props) - handled):
        p.out.not_enforced.append(f"{lid}.{k}: not applied locally")
    p.out.not_enforced.append(f"{lid} (AWS::S3::Bucket): encryption and public access block are stored, "
                              "not enforced" + ("; CORS: moto answers preflights (OPTIONS) from the rule, other "
                                                "origins get 403, but echoes any Origin on other responses"
                                                if "CorsConfiguration" in props else ""))


def _table(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    ddb = p.client("dynamodb")
    name = p.physical_name(lid, props, "TableName")
    props = p.resolve({k: v for k, v in props.items() if k != "TableName"})
    args: dict[str, Any] = {"TableName": name, "AttributeDefinitions": props["AttributeDefinitions"],
                            "KeySchema": props["KeySchema"],
                            "BillingMode": props.get("BillingMode", "PROVISIONED")}
    handled = {"AttributeDefinitions", "KeySchema", "BillingMode", "Tags"}
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput"):
        if key in props:
            args[key] = props[key]
            handled.add(key)
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        handled.add("StreamSpecification")
    desc = ddb.create_table(**args)["TableDescription"]
    if props.get("TimeToLiveSpecification"):
        ttl = props["TimeToLiveSpecification"]
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": bool(ttl.get("Enabled")), "AttributeName": ttl["AttributeName"]})
        handled.add("TimeToLiveSpecification")
    pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
    if pitr:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})
        handled.add("PointInTimeRecoverySpecification")
        p.out.not_enforced.append(f"{lid}.PointInTimeRecoverySpecification: flag stored, no backups locally")
    for k in sorted(set(props) - handled):
        p.out.not_enforced.append(f"{lid}.{k}: not applied locally")
    p.out.resources[lid] = {"Ref": name, "Arn": desc["TableArn"],
                            **({"StreamArn": desc["LatestStreamArn"]} if desc.get("LatestStreamArn") else {})}


def _topic(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    sns = p.client("sns")
    name = p.physical_name(lid, props, "TopicName")
    props = p.resolve({k: v for k, v in props.items() if k != "TopicName"})
    attrs = {k: _s(props[k]) for k in ("DisplayName", "FifoTopic", "ContentBasedDeduplication",
                                       "KmsMasterKeyId") if k in props}
    arn = sns.create_topic(Name=name, Attributes=attrs)["TopicArn"]
    p.out.resources[lid] = {"Ref": arn, "TopicArn": arn, "TopicName": name}
    for sub in props.get("Subscription", []):
        sns.subscribe(TopicArn=arn, Protocol=sub["Protocol"], Endpoint=sub["Endpoint"])
    for k in sorted(set(props) - set(attrs) - {"Subscription", "Tags"}):
        p.out.not_enforced.append(f"{lid}.{k}: not applied locally")


QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
                    "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy",
                    "RedriveAllowPolicy", "SqsManagedSseEnabled", "KmsMasterKeyId",
                    "KmsDataKeyReusePeriodSeconds", "FifoQueue", "ContentBasedDeduplication",
                    "DeduplicationScope", "FifoThroughputLimit")


def _queue(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    sqs = p.client("sqs")
    name = p.physical_name(lid, props, "QueueName")
    props = p.resolve({k: v for k, v in props.items() if k != "QueueName"})
    attrs = {k: _s(props[k]) for k in QUEUE_ATTRIBUTES if k in props}
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    p.out.resources[lid] = {"Ref": url, "QueueUrl": url, "Arn": arn, "QueueName": name}
    for k in sorted(set(props) - set(attrs) - {"Tags"}):
        p.out.not_enforced.append(f"{lid}.{k}: not applied locally")


def _subscription(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    sns = p.client("sns")
    props = p.resolve(props)
    attrs: dict[str, str] = {}
    for k in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy"):
        if k in props:
            attrs[k] = _s(props[k])
    arn = sns.subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"],
                        Attributes=attrs, ReturnSubscriptionArn=True)["SubscriptionArn"]
    p.out.resources[lid] = {"Ref": arn, "Arn": arn}


def _policy(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    """Queue/topic policies: stored on their resources for inspection; moto enforces none."""
    kind = p.resources_tpl[lid]["Type"]
    props = p.resolve(props)
    doc = json.dumps(props["PolicyDocument"])
    if kind == "AWS::SQS::QueuePolicy":
        for url in props["Queues"]:
            p.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": doc})
    else:
        for arn in props["Topics"]:
            p.client("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=doc)
    p.out.resources[lid] = {"Ref": lid}
    p.out.not_enforced.append(f"{lid} ({kind}): accepted, not enforced (moto allows every call)")


def _state_machine(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    sfn = p.client("stepfunctions")
    name = p.physical_name(lid, props, "Name")
    if "DefinitionUri" in props:
        uri = props["DefinitionUri"]
        if not isinstance(uri, str):
            raise ProvisionError(f"{lid}: DefinitionUri must be a local file path")
        text = (p.dir / uri).read_text()
    elif "Definition" in props:
        text = json.dumps(props["Definition"])
    else:
        raise ProvisionError(f"{lid}: no Definition or DefinitionUri")
    for key, value in p.resolve(props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + key + "}", _s(value))
    json.loads(text)  # a broken substitution fails here, not at the first execution
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}-role"
    arn = sfn.create_state_machine(name=name, definition=text, roleArn=role,
                                   type=props.get("Type", "STANDARD"))["stateMachineArn"]
    p.out.resources[lid] = {"Ref": arn, "Arn": arn, "Name": name}
    for k in sorted(set(props) - {"DefinitionUri", "Definition", "DefinitionSubstitutions", "Type", "Name", "Tags"}):
        p.out.not_enforced.append(f"{lid}.{k}: not enforced locally (IAM, logging, tracing, events)")


def _email_identity(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    email = _s(p.resolve(props["EmailIdentity"]))
    if "@" in email:
        p.client("ses").verify_email_identity(EmailAddress=email)
    else:
        p.client("ses").verify_domain_identity(Domain=email)
    p.out.resources[lid] = {"Ref": email}
    p.out.not_enforced.append(f"{lid} (AWS::SES::EmailIdentity): verified at once locally; no sandbox limits")


USER_POOL_PROPERTIES = (
    "Policies", "LambdaConfig", "AutoVerifiedAttributes", "AliasAttributes", "UsernameAttributes",
    "SmsVerificationMessage", "EmailVerificationMessage", "EmailVerificationSubject", "VerificationMessageTemplate",
    "SmsAuthenticationMessage", "MfaConfiguration", "UserAttributeUpdateSettings", "DeviceConfiguration",
    "EmailConfiguration", "SmsConfiguration", "UserPoolTags", "AdminCreateUserConfig", "Schema", "UserPoolAddOns",
    "UsernameConfiguration", "AccountRecoverySetting", "DeletionProtection", "UserPoolTier")
USER_POOL_CLIENT_PROPERTIES = (
    "ClientName", "GenerateSecret", "RefreshTokenValidity", "AccessTokenValidity", "IdTokenValidity",
    "TokenValidityUnits", "ReadAttributes", "WriteAttributes", "ExplicitAuthFlows", "SupportedIdentityProviders",
    "CallbackURLs", "LogoutURLs", "DefaultRedirectURI", "AllowedOAuthFlows", "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient", "AnalyticsConfiguration", "PreventUserExistenceErrors",
    "EnableTokenRevocation", "EnablePropagateAdditionalUserContextData", "AuthSessionValidity")


def _user_pool(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    """The template's user pool with its password policy, username attributes and schema (moto
    enforces the password policy, e-mail usernames, confirmation status and passwords)."""
    kind = p.resources_tpl[lid]["Type"]
    props = p.resolve(props)
    name = _s(props["UserPoolName"]) if "UserPoolName" in props else f"{p.settings.stack}-{kebab(lid)}"
    args = {k: props[k] for k in USER_POOL_PROPERTIES if k in props}
    pool = p.client("cognito-idp").create_user_pool(PoolName=name, **args)["UserPool"]
    pid = pool["Id"]
    provider = f"cognito-idp.{p.settings.region}.amazonaws.com/{pid}"
    p.out.resources[lid] = {"Ref": pid, "Arn": pool["Arn"], "UserPoolId": pid, "Name": name,
                            "ProviderName": provider, "ProviderURL": f"https://{provider}"}
    for k in sorted(set(props) - set(args) - {"UserPoolName"}):
        p.out.not_enforced.append(f"{lid}.{k}: not applied locally")
    p.out.cloud_only.append(f"{lid}.EmailConfirmation ({kind}): Cognito e-mail confirmation codes are not sent "
                            "locally; the embedded stack confirms sign-ups at once (GAS_SIGNUP_AUTO_CONFIRM=1)")
    p.out.not_enforced.append(f"{lid} ({kind}): tokens are signed with moto's public dummy key; MFA, Lambda "
                              "triggers and advanced security are not enforced")


def _user_pool_client(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    kind = p.resources_tpl[lid]["Type"]
    props = p.resolve(props)
    args = {k: props[k] for k in USER_POOL_CLIENT_PROPERTIES if k in props}
    args.setdefault("ClientName", f"{p.settings.stack}-{kebab(lid)}")
    client = p.client("cognito-idp").create_user_pool_client(UserPoolId=props["UserPoolId"], **args)["UserPoolClient"]
    p.out.resources[lid] = {"Ref": client["ClientId"], "Name": client["ClientName"],
                            **({"ClientSecret": client["ClientSecret"]} if client.get("ClientSecret") else {})}
    for k in sorted(set(props) - set(args) - {"UserPoolId"}):
        p.out.not_enforced.append(f"{lid}.{k}: not applied locally")
    p.out.not_enforced.append(f"{lid} ({kind}): ExplicitAuthFlows and PreventUserExistenceErrors are stored, "
                              "not enforced by moto (gas.auth gives one answer for a wrong e-mail or password)")


def _function(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    g = p.globals_fn
    name = p.physical_name(lid, props, "FunctionName")
    arn = f"arn:aws:lambda:{p.settings.region}:{ACCOUNT_ID}:function:{name}"
    p.out.resources[lid] = {"Ref": name, "Arn": arn}
    code = props.get("CodeUri", g.get("CodeUri"))
    if not isinstance(code, str):
        raise ProvisionError(f"{lid}: CodeUri must be a local folder to run locally")
    env = {k: _s(p.resolve(v)) for k, v in p.global_env.items()}
    env.update({k: _s(p.resolve(v)) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()})
    spec = FunctionSpec(logical_id=lid, name=name, code_dir=(p.dir / code).resolve(),
                        handler=props.get("Handler", g.get("Handler", "app.lambda_handler")),
                        timeout_s=int(props.get("Timeout", g.get("Timeout", 3))),
                        memory_mb=int(props.get("MemorySize", g.get("MemorySize", 128))), environment=env)
    if not spec.module_file.is_file():
        raise ProvisionError(f"{lid}: handler module {spec.module_file} not found")
    for ev_name, ev in (props.get("Events") or {}).items():
        if ev.get("Type") != "SQS":
            p.out.cloud_only.append(f"{lid}.Events.{ev_name} ({ev.get('Type')}): no local event source")
            continue
        e = ev.get("Properties") or {}
        queue = e["Queue"]
        if not (isinstance(queue, dict) and "Fn::GetAtt" in queue):
            raise ProvisionError(f"{lid}.Events.{ev_name}: Queue must be !GetAtt <Queue>.Arn of this template")
        qid = queue["Fn::GetAtt"][0]
        spec.sqs_events.append(SqsEventSource(
            name=ev_name, queue_logical_id=qid, queue_url=p.attribute(qid, "Ref"),
            queue_arn=p.resolve(queue), batch_size=int(e.get("BatchSize", 10)),
            report_batch_item_failures="ReportBatchItemFailures" in (e.get("FunctionResponseTypes") or []),
            maximum_batching_window_s=int(e.get("MaximumBatchingWindowInSeconds", 0)),
            maximum_concurrency=(e.get("ScalingConfig") or {}).get("MaximumConcurrency"),
            enabled=bool(e.get("Enabled", True))))
    p.out.functions[lid] = spec
    p.out.not_enforced.append(f"{lid} (AWS::Serverless::Function): runs in-process through a local poller; "
                              "Policies, Layers, Tracing and Runtime are not enforced")


def _layer(p: _Provisioner, lid: str, props: dict[str, Any]) -> None:
    p.out.resources[lid] = {"Ref": f"arn:aws:lambda:{p.settings.region}:{ACCOUNT_ID}:layer:{lid}:1"}
    p.out.layers.append(lid)
    p.out.not_enforced.append(f"{lid} (AWS::Serverless::LayerVersion): not built locally; its code is "
                              "imported from the checkout")


_CREATORS: dict[str, Callable[[_Provisioner, str, dict[str, Any]], None]] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::DynamoDB::Table": _table,
    "AWS::SNS::Topic": _topic,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Subscription": _subscription,
    "AWS::SQS::QueuePolicy": _policy,
    "AWS::SNS::TopicPolicy": _policy,
    "AWS::Serverless::StateMachine": _state_machine,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::SES::EmailIdentity": _email_identity,
    "AWS::Cognito::UserPool": _user_pool,
    "AWS::Cognito::UserPoolClient": _user_pool_client,
    "AWS::Serverless::Function": _function,
    "AWS::Serverless::LayerVersion": _layer,
}


# ----------------------------------------------------------------------------- entry point

def boto_clients(endpoint: str | None, region: str) -> Callable[[str], Any]:
    """A memoising client factory for `endpoint` (fake credentials are the caller's business)."""
    import boto3

    from gas import aws

    session = boto3.session.Session()
    cache: dict[str, Any] = {}

    def get(service: str) -> Any:
        if service not in cache:
            kwargs: dict[str, Any] = {"region_name": region, "config": aws.client_config(service)}
            if endpoint:
                kwargs["endpoint_url"] = endpoint
            cache[service] = session.client(service, **kwargs)
        return cache[service]

    return get


def provision(endpoint: str | None, *, template: str | Path | dict[str, Any] = DEFAULT_TEMPLATE,
              settings: Settings | None = None, parameters: dict[str, Any] | None = None,
              clients: Callable[[str], Any] | None = None) -> Provisioned:
    """Create every local resource of `template` against `endpoint`; see the module docstring.

    `settings` supplies the stack name, region and the physical names of linked resources
    (default: `Settings()` defaults). `clients(service)` may replace the boto3 client factory.
    """
    settings = settings or Settings()
    if isinstance(template, dict):
        tpl, tdir = template, ROOT
    else:
        tpl, tdir = load_template(template), Path(template).resolve().parent
    get = clients or boto_clients(endpoint, settings.region)
    return _Provisioner(tpl, tdir, get, settings, dict(parameters or {}), endpoint).run()
