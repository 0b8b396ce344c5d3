//! Swarm section (`/swarm`, `/nodes`, `/services`, `/tasks`, `/secrets`, `/configs`): answered
//! as a daemon outside any swarm answers.
//!
//! Berth runs no swarm, but clients probe these endpoints: clean-up paths call `swarm/leave`,
//! the docker CLI and SDKs read `/swarm`, and a 404 there looks like a broken daemon. Docker's
//! 503 with its message is what they handle; `init` and `join` say plainly that swarm mode is
//! not there to turn on.

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::routing::any;
use berth_common::ErrorKind;

/// Docker's message for a node outside a swarm.
pub const NOT_IN_SWARM: &str = "This node is not part of a swarm";
/// Docker's message for manager-only endpoints on such a node.
pub const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

/// Routes of this section.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/swarm", any(not_a_manager))
        .route("/swarm/leave", any(not_in_swarm))
        .route("/swarm/init", any(unsupported))
        .route("/swarm/join", any(unsupported))
        .route("/swarm/{*rest}", any(not_a_manager));
    for section in ["nodes", "services", "tasks", "secrets", "configs"] {
        r = r
            .route(&format!("/{section}"), any(not_a_manager))
            .route(&format!("/{section}/{{*rest}}"), any(not_a_manager));
    }
    r
}

async fn not_in_swarm() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, NOT_IN_SWARM)
}

async fn not_a_manager() -> ApiError {
    ApiError::new(ErrorKind::Unavailable, NOT_A_MANAGER)
}

async fn unsupported() -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        "swarm mode is not supported by Berth: it runs the containers of one host; use stacks (berth compose) instead",
    )
}
