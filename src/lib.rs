//! Interdict: bans and feature blocks as Kubernetes resources, delivered to
//! applications as mounted blocklists.

#[cfg(feature = "operator")]
pub mod actor;
#[cfg(feature = "operator")]
pub mod api;
#[cfg(feature = "operator")]
pub mod audit;
#[cfg(feature = "operator")]
pub mod cli;
#[cfg(feature = "operator")]
pub mod console;
#[cfg(feature = "operator")]
pub mod controller;
pub mod core;
#[cfg(feature = "operator")]
pub mod http;
#[cfg(feature = "operator")]
pub mod http_post;
#[cfg(feature = "operator")]
pub mod inject;
#[cfg(feature = "operator")]
pub mod model;
#[cfg(feature = "operator")]
pub mod notify;
#[cfg(feature = "operator")]
pub mod plugin;
#[cfg(feature = "operator")]
pub mod policy;
#[cfg(feature = "operator")]
pub mod process;
pub mod reader;
#[cfg(feature = "operator")]
pub mod serve;
