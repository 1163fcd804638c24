//! `/metrics`, `/healthz` and `/readyz` of `interdict run`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{metrics, watch_health};
use crate::http::Response;

/// `/readyz` fails while the bans are loading and while a watch is failing
/// (the API server unreachable, say): the operator then cannot see changes.
pub fn health_handler(
    metrics: Arc<metrics::Metrics>,
    ready: Arc<AtomicBool>,
    watches: Arc<watch_health::WatchHealth>,
) -> crate::http::Handler {
    Arc::new(move |_method: &str, path: &str, _query: &str| match path {
        "/metrics" => {
            metrics.set_watches_healthy(watches.unhealthy().is_empty());
            Response {
                status: 200,
                content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
                body: metrics.render(),
            }
        }
        "/healthz" => Response::text(200, "ok\n"),
        "/readyz" if !ready.load(Ordering::Acquire) => Response::text(503, "loading bans\n"),
        "/readyz" => match watches.unhealthy().as_slice() {
            [] => Response::text(200, "ok\n"),
            failing => Response::text(
                503,
                failing
                    .iter()
                    .map(|(watch, error)| format!("watch of {watch} failing: {error}\n"))
                    .collect::<String>(),
            ),
        },
        _ => Response::error(
            404,
            format!("no endpoint {path}; try /metrics, /healthz, /readyz"),
        ),
    })
}
