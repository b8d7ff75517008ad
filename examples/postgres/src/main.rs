//! `postgres`: a PostgreSQL connection pool opened at init, used by every invocation, and closed
//! by a shutdown hook at SIGTERM, so that the server sees each session end with the protocol's
//! Terminate message instead of an `unexpected EOF on client connection`.
//!
//! Events: `{}` runs `select now()` on the next connection of the pool (in turn) and answers
//! with the server's time, the backend's pid and the connection used; `{"sql_sleep_ms":N}`
//! first makes the server sleep N ms (`pg_sleep`).
//!
//! Environment:
//! - `DATABASE_URL` (required): `postgres://user[:password]@host:port/db` or `key=value` pairs;
//!   the example sets `application_name=lambda-grace-example`, so that its sessions can be told
//!   apart in `pg_stat_activity` and in the server log (`%a`);
//! - `POSTGRES_POOL_SIZE=N`: how many connections to open (default 3);
//! - `POSTGRES_NO_HOOK=1`: do not register the shutdown hook (negative control: the process ends
//!   with its connections open, and the server logs an unexpected EOF for each);
//! - `LAMBDA_GRACE_NO_EXTENSION=1`: do not register the internal extension (no SIGTERM: the
//!   platform SIGKILLs the function and no hook runs).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::str::FromStr;
use std::time::Duration;

use lambda_grace::{Context, Diagnostic, Runtime};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, NoTls};

/// The `application_name` of every connection.
const APPLICATION_NAME: &str = "lambda-grace-example";

#[derive(Debug, Deserialize)]
struct Request {
    #[serde(default)]
    sql_sleep_ms: u64,
}

#[derive(Debug, Serialize)]
struct Reply {
    /// `now()` on the server.
    now: String,
    /// The server process that ran the query (`pg_backend_pid()`).
    backend_pid: i32,
    /// Which connection of the pool ran it.
    connection: usize,
    invocations: u64,
}

/// One open connection: the client that sends queries, and the task that drives the socket.
#[derive(Debug)]
struct Connection {
    client: Rc<Client>,
    task: JoinHandle<()>,
}

/// A fixed set of connections opened at init and handed out in turn; `close` ends them.
#[derive(Debug)]
struct Pool {
    connections: RefCell<Vec<Connection>>,
    next: Cell<usize>,
}

impl Pool {
    async fn open(config: &Config, size: usize) -> Result<Self, Diagnostic> {
        let mut connections = Vec::with_capacity(size);
        for _ in 0..size {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|e| Diagnostic::new("Postgres.ConnectFailed", e.to_string()))?;
            // The connection future reads and writes the socket; when every handle to its
            // client is dropped, it sends Terminate, closes the socket and returns.
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "database connection failed");
                }
            });
            connections.push(Connection {
                client: Rc::new(client),
                task,
            });
        }
        Ok(Self {
            connections: RefCell::new(connections),
            next: Cell::new(0),
        })
    }

    /// The next connection's client, and its index.
    fn get(&self) -> Result<(usize, Rc<Client>), Diagnostic> {
        let connections = self.connections.borrow();
        if connections.is_empty() {
            return Err(Diagnostic::new("Postgres.PoolClosed", "the pool is closed"));
        }
        let n = self.next.get() % connections.len();
        self.next.set(n + 1);
        Ok((n, Rc::clone(&connections[n].client)))
    }

    /// Drops every client, so that each connection says goodbye (Terminate) and closes its
    /// socket, then waits for the connection tasks to finish. The runtime bounds the wait: a
    /// hook still running at the end of the shutdown budget is abandoned and reported.
    async fn close(&self) -> usize {
        let connections = self.connections.take();
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

async fn query(client: &Client, sleep: Duration) -> Result<(String, i32), tokio_postgres::Error> {
    if !sleep.is_zero() {
        client
            .execute("select pg_sleep($1)", &[&sleep.as_secs_f64()])
            .await?;
    }
    let row = client
        .query_one("select now()::text, pg_backend_pid()", &[])
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The connection settings: `DATABASE_URL`, with our `application_name`.
fn database_config() -> Result<Config, Diagnostic> {
    let url = env("DATABASE_URL")
        .ok_or_else(|| Diagnostic::new("Postgres.ConfigMissing", "DATABASE_URL is not set"))?;
    let mut config = Config::from_str(&url)
        .map_err(|e| Diagnostic::new("Postgres.ConfigInvalid", format!("DATABASE_URL: {e}")))?;
    config
        .application_name(APPLICATION_NAME)
        // Init has 10 s in all; an unreachable server should fail it well before that.
        .connect_timeout(Duration::from_secs(3));
    Ok(config)
}

async fn open_pool() -> Result<Pool, Diagnostic> {
    let size = match env("POSTGRES_POOL_SIZE") {
        Some(n) => n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            Diagnostic::new(
                "Postgres.ConfigInvalid",
                format!("POSTGRES_POOL_SIZE={n:?} is not a positive number"),
            )
        })?,
        None => 3,
    };
    Pool::open(&database_config()?, size).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_grace::Error> {
    lambda_grace::logging::init();
    let mut runtime =
        Runtime::from_env()?.register_extension(env("LAMBDA_GRACE_NO_EXTENSION").is_none());
    let pool = Rc::new(runtime.init(open_pool()).await?);
    tracing::info!(
        connections = pool.connections.borrow().len(),
        "database pool open"
    );

    if env("POSTGRES_NO_HOOK").is_none() {
        let pool = Rc::clone(&pool);
        runtime = runtime.on_shutdown("close-pool", move || async move {
            let closed = pool.close().await;
            println!("[postgres] SIGTERM received → cleanup: {closed} connections closed");
            Ok(())
        });
    }

    let invocations = Rc::new(Cell::new(0_u64));
    let handler_pool = Rc::clone(&pool);
    let report = runtime
        .run(move |req: Request, _ctx: Context| {
            let n = invocations.get() + 1;
            invocations.set(n);
            let conn = handler_pool.get();
            async move {
                let (connection, client) = conn?;
                let (now, backend_pid) = query(&client, Duration::from_millis(req.sql_sleep_ms))
                    .await
                    .map_err(|e| Diagnostic::new("Postgres.QueryFailed", e.to_string()))?;
                Ok::<_, Diagnostic>(Reply {
                    now,
                    backend_pid,
                    connection,
                    invocations: n,
                })
            }
        })
        .await?;
    let open = pool.connections.borrow().len();
    if open > 0 {
        // Without the hook, the connections are still open here: they end with the process,
        // and the server sees each socket close without a Terminate.
        println!("[postgres] done: {open} connections still open at exit");
    } else {
        println!(
            "[postgres] done: cleanup {}",
            if report.is_clean() {
                "complete"
            } else {
                "incomplete"
            }
        );
    }
    Ok(())
}
