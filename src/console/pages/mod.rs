//! The pages, one file each: the page's HTML from data (pure, unit-tested)
//! and its handler (the Kubernetes calls, made with the moderator's client).

pub mod activity;
pub mod appeals;
pub mod ban;
pub mod search;
pub mod why;
