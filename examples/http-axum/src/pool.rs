//! A fixed set of PostgreSQL connections opened at init and closed by a shutdown hook, so the
//! server sees each session end with a Terminate message rather than an unexpected EOF.
//!
//! `Send` and `Sync` (axum's state must be), unlike `examples/postgres`'s `Rc` pool.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, NoTls};

/// The `application_name` of every connection (visible in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "lambda-grace-http-example";

/// One open connection: the client that sends queries, and the task that drives the socket.
#[derive(Debug)]
struct Connection {
    client: Arc<Client>,
    task: JoinHandle<()>,
}

/// The pool. `get` hands out connections in turn; `close` ends them all.
#[derive(Debug)]
pub struct Pool {
    connections: Mutex<Vec<Connection>>,
    next: AtomicUsize,
}

/// Why the pool could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// `DATABASE_URL` does not parse.
    Config(tokio_postgres::Error),
    /// A connection failed.
    Connect(tokio_postgres::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(e) => write!(f, "DATABASE_URL is invalid: {e}"),
            Self::Connect(e) => write!(f, "cannot connect to PostgreSQL: {e}"),
        }
    }
}

impl Pool {
    /// Opens `size` connections to `url` (`postgres://…` or `key=value` pairs).
    pub async fn open(url: &str, size: usize) -> Result<Self, OpenError> {
        let mut config = Config::from_str(url).map_err(OpenError::Config)?;
        config
            .application_name(APPLICATION_NAME)
            // Init has 10 s in all; an unreachable server should fail it well before that.
            .connect_timeout(Duration::from_secs(3));
        let mut connections = Vec::with_capacity(size);
        for _ in 0..size {
            let (client, connection) = config.connect(NoTls).await.map_err(OpenError::Connect)?;
            // When every handle to its client is dropped, the connection future sends
            // Terminate, closes the socket and returns.
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "database connection failed");
                }
            });
            connections.push(Connection {
                client: Arc::new(client),
                task,
            });
        }
        Ok(Self {
            connections: Mutex::new(connections),
            next: AtomicUsize::new(0),
        })
    }

    /// The next connection's client and its index; `None` once closed.
    pub fn get(&self) -> Option<(usize, Arc<Client>)> {
        let connections = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if connections.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed) % connections.len();
        Some((n, Arc::clone(&connections[n].client)))
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the pool is closed (or was opened empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every client, so each connection says goodbye and closes its socket, then waits
    /// for the connection tasks; returns how many ended cleanly. The runtime bounds the wait.
    pub async fn close(&self) -> usize {
        let connections = std::mem::take(
            &mut *self
                .connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let (clients, tasks): (Vec<_>, Vec<_>) =
            connections.into_iter().map(|c| (c.client, c.task)).unzip();
        drop(clients);
        let mut closed = 0;
        for task in tasks {
            if task.await.is_ok() {
                closed += 1;
            }
        }
        closed
    }
}
