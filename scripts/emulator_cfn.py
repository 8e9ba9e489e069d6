"""CloudFormation resource types moto's CloudFormation does not create, created here in moto's
own service backends: a tenant stack's user pool and app client in moto's Cognito, its HTTP
API (API, authorizer, integration, route, stage) in moto's API Gateway v2, and its alarms in
moto's CloudWatch (where SetAlarmState moves them, and DescribeAlarms shows them).

moto's CloudFormation skips a type it has no model for, with a warning; the stack completes
without the resource, and a Ref to it resolves to the logical id. With these models the pool,
the client and the API exist in the emulator, their ids are the stack's physical resource ids
and outputs, Cognito signs in their users and serves the pool's JWKS, and deleting the stack
deletes them. Nothing here serves the HTTP API: the emulator runs no API Gateway data plane,
and local mode serves each tenant's front door in-process (ARCHITECTURE.md).

Imported by moto_server.py before the server starts, so moto's model map (built on first use
from CloudFormationModel's subclasses) includes them.
"""

from moto.core.common_models import CloudFormationModel


def _props(cloudformation_json):
    return dict(cloudformation_json.get("Properties") or {})


def _cognito(account_id, region_name):
    from moto.cognitoidp.models import cognitoidp_backends

    return cognitoidp_backends[account_id][region_name]


def _apigw(account_id, region_name):
    from moto.apigatewayv2.models import apigatewayv2_backends

    return apigatewayv2_backends[account_id][region_name]


class _Created:
    """A created resource: its physical id and the attributes GetAtt reads. Each model below
    derives from CloudFormationModel directly, as moto finds its models by direct subclass."""

    def __init__(self, physical_id, attributes, delete):
        self._physical_id = physical_id
        self._attributes = attributes
        self._delete = delete

    @property
    def physical_resource_id(self):
        return self._physical_id

    @classmethod
    def has_cfn_attr(cls, attr):
        return True

    def get_cfn_attribute(self, attribute_name):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self._attributes:
            raise UnformattedGetAttTemplateException()
        return self._attributes[attribute_name]

    def delete(self, account_id, region_name):
        self._delete()

    def is_created(self):
        return True

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        # Replace: create the new resource, then delete the old one, as CloudFormation does
        # for a replacement (the ids change).
        new = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        original_resource.delete(account_id, region_name)
        return new


class UserPool(_Created, CloudFormationModel):
    __module__ = "moto.silos_emulator"

    @staticmethod
    def cloudformation_type():
        return "AWS::Cognito::UserPool"

    @staticmethod
    def cloudformation_name_type():
        return "UserPoolName"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = _props(cloudformation_json)
        name = props.pop("UserPoolName", resource_name)
        backend = _cognito(account_id, region_name)
        pool = backend.create_user_pool(name, props)
        attributes = {
            "Arn": pool.arn,
            "UserPoolId": pool.id,
            "ProviderName": f"cognito-idp.{region_name}.amazonaws.com/{pool.id}",
            "ProviderURL": f"https://cognito-idp.{region_name}.amazonaws.com/{pool.id}",
        }
        return cls(pool.id, attributes, lambda: backend.user_pools.pop(pool.id, None))


class UserPoolClient(_Created, CloudFormationModel):
    __module__ = "moto.silos_emulator"

    @staticmethod
    def cloudformation_type():
        return "AWS::Cognito::UserPoolClient"

    @staticmethod
    def cloudformation_name_type():
        return "ClientName"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = _props(cloudformation_json)
        pool_id = props.pop("UserPoolId")
        generate = bool(props.pop("GenerateSecret", False))
        props.setdefault("ClientName", resource_name)
        backend = _cognito(account_id, region_name)
        client = backend.create_user_pool_client(pool_id, generate, props)

        def delete():
            pool = backend.user_pools.get(pool_id)
            if pool is not None:
                pool.clients.pop(client.id, None)

        attributes = {"ClientId": client.id, "Name": props["ClientName"]}
        if generate:
            attributes["ClientSecret"] = client.secret
        return cls(client.id, attributes, delete)


class HttpApi(_Created, CloudFormationModel):
    __module__ = "moto.silos_emulator"

    @staticmethod
    def cloudformation_type():
        return "AWS::ApiGatewayV2::Api"

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = _props(cloudformation_json)
        backend = _apigw(account_id, region_name)
        api = backend.create_api(
            api_key_selection_expression=props.get("ApiKeySelectionExpression"),
            cors_configuration=props.get("CorsConfiguration"),
            description=props.get("Description"),
            disable_schema_validation=props.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
            name=props.get("Name", resource_name),
            protocol_type=props.get("ProtocolType", "HTTP"),
            route_selection_expression=props.get("RouteSelectionExpression"),
            tags=props.get("Tags") or {},
            version=props.get("Version"),
        )
        attributes = {"ApiId": api.api_id, "ApiEndpoint": api.api_endpoint}
        return cls(api.api_id, attributes, lambda: backend.delete_api(api.api_id))


class Authorizer(_Created, CloudFormationModel):
    __module__ = "moto.silos_emulator"

    @staticmethod
    def cloudformation_type():
        return "AWS::ApiGatewayV2::Authorizer"

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = _props(cloudformation_json)
        backend = _apigw(account_id, region_name)
        api_id = props["ApiId"]
        jwt = props.get("JwtConfiguration")
        authorizer = backend.create_authorizer(
            api_id=api_id,
            auth_creds_arn=props.get("AuthorizerCredentialsArn"),
            auth_payload_format_version=props.get("AuthorizerPayloadFormatVersion"),
            auth_result_ttl=props.get("AuthorizerResultTtlInSeconds"),
            authorizer_uri=props.get("AuthorizerUri"),
            authorizer_type=props.get("AuthorizerType"),
            enable_simple_response=props.get("EnableSimpleResponses"),
            identity_source=props.get("IdentitySource"),
            identity_validation_expr=props.get("IdentityValidationExpression"),
            jwt_config=jwt and {"audience": jwt.get("Audience"), "issuer": jwt.get("Issuer")},
            name=props.get("Name", resource_name),
        )
        attributes = {"AuthorizerId": authorizer.id}
        return cls(
            authorizer.id, attributes, lambda: _quietly(backend.delete_authorizer, api_id, authorizer.id)
        )


class Integration(_Created, CloudFormationModel):
    __module__ = "moto.silos_emulator"

    @staticmethod
    def cloudformation_type():
        return "AWS::ApiGatewayV2::Integration"

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = _props(cloudformation_json)
        backend = _apigw(account_id, region_name)
        api_id = props["ApiId"]
        integration = backend.create_integration(
            api_id=api_id,
            connection_id=props.get("ConnectionId"),
            connection_type=props.get("ConnectionType"),
            content_handling_strategy=props.get("ContentHandlingStrategy"),
            credentials_arn=props.get("CredentialsArn"),
            description=props.get("Description"),
            integration_method=props.get("IntegrationMethod"),
            integration_subtype=props.get("IntegrationSubtype"),
            integration_type=props.get("IntegrationType"),
            integration_uri=props.get("IntegrationUri"),
            passthrough_behavior=props.get("PassthroughBehavior"),
            payload_format_version=props.get("PayloadFormatVersion"),
            request_parameters=props.get("RequestParameters"),
            request_templates=props.get("RequestTemplates"),
            response_parameters=props.get("ResponseParameters"),
            template_selection_expression=props.get("TemplateSelectionExpression"),
            timeout_in_millis=props.get("TimeoutInMillis"),
            tls_config=props.get("TlsConfig"),
        )
        integration_id = integration.id
        return cls(
            integration_id,
            {"IntegrationId": integration_id},
            lambda: _quietly(backend.delete_integration, api_id, integration_id),
        )


class Route(_Created, CloudFormationModel):
    __module__ = "moto.silos_emulator"

    @staticmethod
    def cloudformation_type():
        return "AWS::ApiGatewayV2::Route"

    @staticmethod
    def cloudformation_name_type():
        return ""

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = _props(cloudformation_json)
        backend = _apigw(account_id, region_name)
        api_id = props["ApiId"]
        route = backend.create_route(
            api_id=api_id,
            api_key_required=props.get("ApiKeyRequired", False),
            authorization_scopes=props.get("AuthorizationScopes"),
            authorization_type=props.get("AuthorizationType"),
            authorizer_id=props.get("AuthorizerId"),
            model_selection_expression=props.get("ModelSelectionExpression"),
            operation_name=props.get("OperationName"),
            request_models=props.get("RequestModels"),
            request_parameters=props.get("RequestParameters"),
            route_key=props["RouteKey"],
            route_response_selection_expression=props.get("RouteResponseSelectionExpression"),
            target=props.get("Target"),
        )
        route_id = route.route_id
        return cls(
            route_id, {"RouteId": route_id}, lambda: _quietly(backend.delete_route, api_id, route_id)
        )


class Stage(_Created, CloudFormationModel):
    __module__ = "moto.silos_emulator"

    @staticmethod
    def cloudformation_type():
        return "AWS::ApiGatewayV2::Stage"

    @staticmethod
    def cloudformation_name_type():
        return "StageName"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = _props(cloudformation_json)
        backend = _apigw(account_id, region_name)
        api_id = props["ApiId"]
        name = props.get("StageName", resource_name)
        config = {"stageName": name, "autoDeploy": props.get("AutoDeploy")}
        settings = props.get("DefaultRouteSettings")
        if settings:
            config["defaultRouteSettings"] = {
                k[0].lower() + k[1:]: v for k, v in settings.items()
            }
        backend.create_stage(api_id, config)
        return cls(name, {}, lambda: _quietly(backend.delete_stage, api_id, name))


def _cloudwatch(account_id, region_name):
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account_id][region_name]


def _metric_data_queries(metrics):
    """A template's `Metrics` as moto's own PutMetricAlarm handler builds them."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    queries = []
    for metric in metrics:
        stat = metric.get("MetricStat")
        metric_stat = None
        if stat:
            m = stat.get("Metric", {})
            metric_stat = MetricStat(
                metric=Metric(
                    metric_name=m.get("MetricName"),
                    namespace=m.get("Namespace"),
                    dimensions=[
                        Dimension(name=d.get("Name"), value=d.get("Value"))
                        for d in m.get("Dimensions", [])
                    ],
                ),
                period=stat.get("Period"),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=metric.get("Id"),
                label=metric.get("Label"),
                period=metric.get("Period"),
                return_data=metric.get("ReturnData"),
                expression=metric.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return queries


class MetricAlarm(_Created, CloudFormationModel):
    """A metric alarm, made by moto's own PutMetricAlarm: it starts OK, as moto's alarms do
    (CloudWatch's start INSUFFICIENT_DATA and, with no data and missing data not breaching,
    move to OK). Its Ref is its name, as CloudFormation's is."""

    __module__ = "moto.silos_emulator"

    @staticmethod
    def cloudformation_type():
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type():
        return "AlarmName"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = _props(cloudformation_json)
        name = props.get("AlarmName", resource_name)
        backend = _cloudwatch(account_id, region_name)
        number = lambda key: None if props.get(key) is None else float(props[key])  # noqa: E731
        whole = lambda key: None if props.get(key) is None else int(props[key])  # noqa: E731
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            metric_data_queries=_metric_data_queries(props.get("Metrics") or []) or None,
            comparison_operator=props.get("ComparisonOperator"),
            evaluation_periods=whole("EvaluationPeriods"),
            datapoints_to_alarm=whole("DatapointsToAlarm"),
            period=whole("Period"),
            threshold=number("Threshold"),
            statistic=props.get("Statistic"),
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions") or [],
            alarm_actions=props.get("AlarmActions") or [],
            ok_actions=props.get("OKActions") or [],
            insufficient_data_actions=props.get("InsufficientDataActions") or [],
            unit=props.get("Unit"),
            actions_enabled=props.get("ActionsEnabled", True) in (True, "true"),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=props.get("Tags") or [],
        )
        return cls(
            name,
            {"Arn": alarm.alarm_arn},
            lambda: _quietly(backend.delete_alarms, [name]),
        )

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        # Same name: PutMetricAlarm updates it in place (and keeps its state, as AWS does).
        # A new name replaces it.
        new_name = _props(cloudformation_json).get("AlarmName", new_resource_name)
        backend = _cloudwatch(account_id, region_name)
        old = backend.alarms.get(original_resource.physical_resource_id)
        new = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        if new_name != original_resource.physical_resource_id:
            original_resource.delete(account_id, region_name)
        elif old is not None:
            kept = backend.alarms[new_name]
            kept.state_value, kept.state_reason = old.state_value, old.state_reason
            kept.state_updated_timestamp = old.state_updated_timestamp
        return new


def _quietly(delete, *args):
    """Deletes a part of an API, which deleting the API itself may already have removed."""
    try:
        delete(*args)
    except Exception:  # noqa: BLE001 - the API is gone, and its parts with it
        pass
