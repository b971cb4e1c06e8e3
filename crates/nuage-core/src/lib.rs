//! The pure heart of nuage: identifiers, permissions and the scope syntax that
//! writes them down. Nothing here does I/O, so every rule can be tested on its
//! own and reused by every protocol crate.

pub mod ids;
pub mod permission;
pub mod revs;
pub mod scope;
pub mod words;

pub use ids::InstanceId;
pub use permission::{Access, Denied, Permission, Permissions, Subject, Target, Verb, Verbs};
pub use scope::ScopeError;
