//! One request from start to page: host check, sign-in (local session or
//! bearer token), origin and CSRF checks for every POST, then the page. No
//! page is rendered and no Kubernetes call is made before those checks pass.

use std::future::Future;

use kube::Client;

use super::auth::{self, LocalAuth, Refusal};
use super::form::fields;
use super::html::{self, STYLE};
use super::identity::Access;
use super::pages;
use super::server::{Reply, Request};
use crate::plugin::PluginError;
use crate::plugin::bans::Where;

/// How the console recognises its moderators.
pub enum Gate {
    Local(LocalAuth),
    Bearer { key: Vec<u8> },
}

pub struct App {
    pub gate: Gate,
    /// `http://127.0.0.1:PORT`, or the public URL in bearer mode.
    pub origin: String,
    pub access: Access,
    /// Where to look; empty: every namespace the moderator may list.
    pub namespaces: Vec<String>,
    pub blocklist_name: String,
}

/// What a page handler gets: a client with the moderator's rights.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub client: Client,
    /// The name lifts and decisions record (as `kubectl interdict` records it).
    pub actor: String,
    /// Who the page says the moderator is (as the API server knows them).
    pub shown: String,
    pub csrf: String,
}

impl Ctx<'_> {
    /// Where listings look: the configured namespaces, else all of them.
    pub fn places(&self) -> Vec<Where> {
        if self.app.namespaces.is_empty() {
            vec![Where::All]
        } else {
            self.app
                .namespaces
                .iter()
                .map(|ns| Where::Namespace(ns.clone()))
                .collect()
        }
    }

    pub fn default_namespace(&self) -> String {
        self.app
            .namespaces
            .first()
            .cloned()
            .unwrap_or_else(|| self.app.access.default_namespace())
    }

    /// `list` in every place, results together; a place the moderator may
    /// not read is reported, not fatal. Listing every namespace falls back to
    /// the default namespace when cluster-wide reads are forbidden.
    pub async fn across<T, F, Fut>(&self, mut list: F) -> (Vec<T>, Vec<String>)
    where
        F: FnMut(Where) -> Fut,
        Fut: Future<Output = Result<Vec<T>, PluginError>>,
    {
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for place in self.places() {
            match list(place.clone()).await {
                Ok(items) => found.extend(items),
                Err(error) if place == Where::All && error.status_code() == Some(403) => {
                    let fallback = Where::Namespace(self.default_namespace());
                    match list(fallback.clone()).await {
                        Ok(items) => found.extend(items),
                        Err(error) => problems.push(format!("{}: {error}", fallback.describe())),
                    }
                }
                Err(error) => problems.push(format!("{}: {error}", place.describe())),
            }
        }
        (found, problems)
    }

    pub fn page(&self, title: &str, nav: html::Nav, body: &str) -> Reply {
        Reply::html(200, html::page(title, nav, Some(&self.shown), body))
    }
}

fn refused(refusal: Refusal) -> Reply {
    let title = match refusal.status {
        401 => "Not signed in",
        _ => "Refused",
    };
    Reply::html(refusal.status, html::refusal_page(title, refusal.message))
}

impl App {
    pub async fn handle(&self, request: Request) -> Reply {
        if let Gate::Local(_) = self.gate {
            // Only 127.0.0.1 and localhost name this console: a page whose
            // own name was rebound to 127.0.0.1 is refused.
            let port = auth::host_of(&self.origin).rsplit(':').next().unwrap_or("");
            let ok = request.host.as_deref().is_some_and(|host| {
                host == auth::host_of(&self.origin) || host == format!("localhost:{port}")
            });
            if !ok {
                return refused(auth::WRONG_HOST);
            }
        }
        if request.method == "GET" && request.path == "/style.css" {
            let mut reply = Reply::html(200, STYLE.to_string());
            reply.content_type = "text/css; charset=utf-8";
            return reply;
        }
        let (csrf, bearer) = match &self.gate {
            Gate::Local(local) => {
                if request.path == "/login" && request.method == "GET" {
                    let query = fields(request.query.as_bytes());
                    let token = query.get("token").map_or("", String::as_str);
                    return match local.exchange(token) {
                        Ok(id) => Reply::redirect("/")
                            .with_header("set-cookie", auth::session_cookie(&id)),
                        Err(refusal) => refused(refusal),
                    };
                }
                match local.session_csrf(request.cookie.as_deref()) {
                    Ok(csrf) => (csrf, None),
                    Err(refusal) => return refused(refusal),
                }
            }
            Gate::Bearer { key } => match auth::bearer_token(request.authorization.as_deref()) {
                Some(token) => (auth::bearer_csrf(key, token), Some(token.to_string())),
                None => return refused(auth::NO_TOKEN),
            },
        };
        let form = fields(&request.body);
        if request.method == "POST" {
            if !auth::same_origin(
                request.origin.as_deref(),
                request.referer.as_deref(),
                &self.origin,
            ) {
                return refused(auth::FOREIGN_ORIGIN);
            }
            let sent = form.get("csrf").map_or("", String::as_str);
            if !auth::same_secret(sent, &csrf) {
                return refused(auth::BAD_CSRF);
            }
        } else if request.method != "GET" {
            return Reply::html(
                405,
                html::refusal_page("Not allowed", "Only GET and POST are served."),
            )
            .with_header("allow", "GET, POST".to_string());
        }
        let (client, actor, shown) = match self.access.caller(bearer.as_deref()).await {
            Ok(caller) => caller,
            Err((status, message)) => {
                let title = if status == 401 {
                    "Not accepted by the API server"
                } else {
                    "Cannot reach the cluster"
                };
                return Reply::html(status, html::refusal_page(title, &message));
            }
        };
        let ctx = Ctx {
            app: self,
            client,
            actor,
            shown,
            csrf,
        };
        let query = fields(request.query.as_bytes());
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/") => pages::search::get(&ctx, &query).await,
            ("POST", "/lift") => pages::search::lift(&ctx, &form).await,
            ("GET", "/ban") => pages::ban::get(&ctx, &query),
            ("POST", "/ban") => pages::ban::post(&ctx, &form).await,
            ("GET", "/appeals") => pages::appeals::get(&ctx, None).await,
            ("POST", "/decide") => pages::appeals::decide(&ctx, &form).await,
            ("GET", "/activity") => pages::activity::get(&ctx).await,
            ("GET", "/why") => pages::why::get(&ctx, &query).await,
            _ => Reply::html(
                404,
                html::page(
                    "Not found",
                    html::Nav::None,
                    Some(&ctx.shown),
                    "<p>There is no such page.</p>",
                ),
            ),
        }
    }
}
