use crate::cfn::iam::{self, PolicyDocument, Principal, Statement};
use crate::cfn::{Expr, Handle, ResourceOptions, Template, Value};

/// An IAM role assumed by one AWS service, with one inline least-privilege policy that grants
/// add statements to.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    id: String,
    service: String,
    /// Replaces the service trust, for a role assumed by another account's roles.
    trust: Option<Statement>,
    name: Option<Value<String>>,
    description: Option<String>,
    path: Option<String>,
    boundary: Option<Expr>,
    statements: Vec<Statement>,
}

/// The actions the service authorization reference lists with no resource type: IAM
/// authorizes them only on `*`. Allowing one of these is the only way to write a `*` resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unscoped {
    /// Lambda's DynamoDB event source mapping lists the table's streams with the function's
    /// role.
    DynamoDbListStreams,
    /// CloudFormation's log-group handler lists the account's groups.
    LogsDescribeLogGroups,
}

impl Unscoped {
    pub const ALL: [Unscoped; 2] = [
        Unscoped::DynamoDbListStreams,
        Unscoped::LogsDescribeLogGroups,
    ];

    pub fn action(self) -> &'static str {
        match self {
            Unscoped::DynamoDbListStreams => "dynamodb:ListStreams",
            Unscoped::LogsDescribeLogGroups => "logs:DescribeLogGroups",
        }
    }

    /// The statement's Sid, which says in the template why its resource is `*`.
    fn sid(self) -> &'static str {
        match self {
            Unscoped::DynamoDbListStreams => "ListStreamsHasNoResourceType",
            Unscoped::LogsDescribeLogGroups => "DescribeLogGroupsHasNoResourceType",
        }
    }
}

impl Role {
    pub fn for_service(id: &str, service: &str) -> Role {
        Role {
            id: id.to_owned(),
            service: service.to_owned(),
            trust: None,
            name: None,
            description: None,
            path: None,
            boundary: None,
            statements: Vec::new(),
        }
    }

    /// A role assumed through `trust` (a `sts:AssumeRole` statement with its principal and
    /// conditions) instead of by a service.
    pub fn trusting(id: &str, trust: Statement) -> Role {
        Role {
            trust: Some(trust),
            ..Role::for_service(id, "")
        }
    }

    /// A fixed role name, for a role another stack or account names by ARN.
    pub fn role_name(mut self, name: impl Into<Value<String>>) -> Role {
        self.name = Some(name.into());
        self
    }

    pub fn description(mut self, d: &str) -> Role {
        self.description = Some(d.to_owned());
        self
    }

    /// An IAM path such as `/silos/`, so that policies can scope to the roles under it.
    pub fn path(mut self, path: &str) -> Role {
        self.path = Some(path.to_owned());
        self
    }

    /// The managed policy that caps what the role may do, whatever its own policies say.
    pub fn permissions_boundary(mut self, policy_arn: Expr) -> Role {
        self.boundary = Some(policy_arn);
        self
    }

    pub fn logical_id(&self) -> &str {
        &self.id
    }

    pub fn arn(&self) -> Expr {
        Handle::<iam::Role>::new(&self.id).attr_arn()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Allows exactly `actions` on exactly `resources`.
    pub fn allow<R: Into<Value<String>>>(
        &mut self,
        actions: &[&str],
        resources: impl IntoIterator<Item = R>,
    ) {
        self.add_statement(Statement::allow(actions, resources));
    }

    /// Allows an action that IAM authorizes only on every resource (`*`).
    pub fn allow_unscoped(&mut self, action: Unscoped) {
        let mut statement = Statement::allow(&[action.action()], ["*".to_owned()]);
        statement.sid = Some(action.sid().to_owned());
        self.add_statement(statement);
    }

    pub fn add_statement(&mut self, statement: Statement) {
        if !self.statements.contains(&statement) {
            self.statements.push(statement);
        }
    }

    /// Allows passing `role` to `service` (and only to it).
    pub fn grant_pass_role(&mut self, role: &Role, service: &str) {
        self.add_statement(Statement::allow(&["iam:PassRole"], [role.arn()]).condition(
            "StringEquals",
            "iam:PassedToService",
            service,
        ));
    }

    pub fn add_to<'t>(&self, t: &'t mut Template) -> ResourceOptions<'t, iam::Role> {
        let policies = (!self.statements.is_empty()).then(|| {
            vec![iam::role::Policy::new(
                PolicyDocument::new(self.statements.clone()),
                "least-privilege",
            )]
        });
        let trust = self
            .trust
            .clone()
            .unwrap_or_else(|| Statement::assume_role(Principal::service(&self.service)));
        t.add(
            &self.id,
            &iam::Role {
                role_name: self.name.clone(),
                description: self.description.clone().map(Into::into),
                path: self.path.clone().map(Into::into),
                permissions_boundary: self.boundary.clone().map(Into::into),
                policies,
                ..iam::Role::new(PolicyDocument::new(vec![trust]))
            },
        )
    }
}
