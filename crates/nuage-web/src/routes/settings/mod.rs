//! `/settings/…`: the owner's account. Reading the instance's settings is a
//! permission like any other (`io.nuage.settings:GET`); everything about
//! credentials needs the owner's own session.

pub mod app_passwords;
pub mod clients;
pub mod instance;
pub mod passphrase;
pub mod sessions;
pub mod totp;

/// The doctype naming the instance's settings in permissions.
pub const SETTINGS_DOCTYPE: &str = "io.nuage.settings";
