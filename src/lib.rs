//! Interdict: bans and feature blocks as Kubernetes resources, delivered to
//! applications as mounted blocklists.

pub mod api;
pub mod cli;
pub mod controller;
pub mod core;
pub mod reader;
