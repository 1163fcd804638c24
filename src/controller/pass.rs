//! One pass over a namespace: incremental where the namespace's objects are
//! all its own, whole where global bans reach it from elsewhere.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::Error;
use super::{Context, incremental, whole_pass};

/// Returns when the namespace next needs a look (the next start, expiry, end of
/// a session-revocation window, review date or exemption expiry).
pub async fn reconcile(
    ctx: &Arc<Context>,
    namespace: &str,
) -> Result<Option<DateTime<Utc>>, Error> {
    // Global bans reach every opted-in namespace from another namespace's
    // objects: those namespaces are still recomputed whole, each pass.
    let global = ctx
        .stores
        .global_namespace()
        .is_some_and(|g| g == namespace || ctx.stores.opted_in().contains(namespace));
    if global {
        incremental::forget(ctx, namespace);
        whole_pass::full_pass(ctx, namespace).await
    } else {
        incremental::pass(ctx, namespace).await
    }
}
