use crate::cfn::events;
use crate::cfn::{Expr, Handle, Template};

use super::Role;

/// A custom EventBridge event bus, for events this app publishes.
#[derive(Clone, Debug, PartialEq)]
pub struct EventBus {
    id: String,
    name: String,
    description: String,
}

impl EventBus {
    pub fn new(id: &str, name: &str, description: &str) -> EventBus {
        EventBus {
            id: id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
        }
    }

    pub fn logical_id(&self) -> &str {
        &self.id
    }

    fn handle(&self) -> Handle<events::EventBus> {
        Handle::new(&self.id)
    }

    /// The bus's name, as written: moto answers a bus's `Ref` with a Python object's repr,
    /// where AWS answers the name. Use [`arn`](Self::arn) for a reference that orders
    /// creation; every API that takes a bus name also takes its ARN.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arn(&self) -> Expr {
        self.handle().attr_arn()
    }

    /// Allows publishing to this bus, and to no other.
    pub fn grant_put(&self, role: &mut Role) {
        role.allow(&["events:PutEvents"], [self.arn()]);
    }

    pub fn add_to(&self, t: &mut Template) {
        t.add(
            &self.id,
            &events::EventBus {
                description: Some(self.description.clone().into()),
                ..events::EventBus::new(self.name.clone())
            },
        );
    }
}
