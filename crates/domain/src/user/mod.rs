//! Users: the model, its value objects, its ports and the service that manages it.

mod model;
mod ports;
mod service;
mod values;

pub use model::{NewUser, Role, User, UserChanges, UserField, UserResource};
pub use ports::{
    AttemptCount, AttemptLimits, NewSession, NewVerification, RemovedWith, RotateOutcome, Session, SessionRepository,
    UserRepository, UserWriteError, Verification,
};
pub use service::{UserError, UserPatch, UserService};
pub use values::{Email, Password, PersonName, Phone};

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod service_tests;
