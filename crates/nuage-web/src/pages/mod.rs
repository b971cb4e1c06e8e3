//! Server-rendered pages: login, second factor, onboarding, consent, home.
//! Small, readable without JavaScript, and escaped by construction: every
//! value goes through [`esc`].

mod consent;
mod home;
mod layout;
mod login;
mod onboarding;

pub use consent::consent_page;
pub use home::home_page;
pub use layout::message_page;
pub use login::{login_page, second_factor_page};
pub use onboarding::onboarding_page;
