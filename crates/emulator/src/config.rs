//! Function configuration: what Lambda calls the function's configuration (memory, timeout,
//! environment), plus the emulator's own knobs (pool size, freezing, shutdown budgets).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Budgets of the shutdown phase (§4.4). The defaults are the documented ones; RAPID's open
/// code computes 30 % of the deadline instead, so each is configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownBudgets {
    /// Runtime's SIGTERM→SIGKILL grace when only internal extensions are registered (500 ms).
    pub runtime_internal_only: Duration,
    /// Runtime's grace when at least one external extension is registered (300 ms).
    pub runtime_with_external: Duration,
    /// The whole shutdown phase with external extensions (2,000 ms); SHUTDOWN's `deadlineMs`.
    pub total: Duration,
}

impl Default for ShutdownBudgets {
    fn default() -> Self {
        Self {
            runtime_internal_only: Duration::from_millis(500),
            runtime_with_external: Duration::from_millis(300),
            total: Duration::from_millis(2000),
        }
    }
}

/// One function as the emulator runs it.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`, the Invoke API path).
    pub name: String,
    /// The bootstrap command line: program and arguments.
    pub command: Vec<OsString>,
    /// `LAMBDA_TASK_ROOT` and the runtime's working directory.
    pub task_root: PathBuf,
    /// `_HANDLER`.
    pub handler: String,
    /// The function's own environment variables (`--env`), applied before the reserved ones.
    pub env: Vec<(String, String)>,
    /// Layer directories; executables in each `extensions/` folder run as external extensions.
    pub layers: Vec<PathBuf>,
    /// Memory size in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, REPORT's Memory Size).
    pub memory_mb: u32,
    /// Function timeout: bounds each invoke (and a suppressed init).
    pub timeout: Duration,
    /// Limit of the init phase (10 s on Lambda for on-demand functions).
    pub init_timeout: Duration,
    /// Spin an environment down after it has been idle this long; `None` keeps it.
    pub idle_shutdown: Option<Duration>,
    /// Most environments at once; invokes beyond get 429 `TooManyRequestsException`.
    pub concurrency: usize,
    /// SIGSTOP idle environments (Lambda freezes them); off with `--no-freeze`.
    pub freeze: bool,
    /// Shutdown budgets.
    pub budgets: ShutdownBudgets,
    /// Wait before the first retry of a failed asynchronous invoke (Lambda: 1 minute); the
    /// second retry waits twice as long.
    pub async_retry_delay: Duration,
    /// `AWS_REGION`.
    pub region: String,
    /// The account id used in ARNs.
    pub account_id: String,
    /// Read what the runtime holds (connections, files, children) while it shuts down, and
    /// record it as a `leftovers` event (`grace check`). Costs a few milliseconds before SIGTERM.
    pub inspect_shutdown: bool,
    /// `AWS_EXECUTION_ENV`, set for managed runtimes (e.g. `AWS_Lambda_python3.12`), absent for
    /// `provided.*`.
    pub execution_env: Option<String>,
    /// Lambda's resource model (`sys::cgroup`): the environment's processes get a CPU-time
    /// quota of one CPU per 1,769 MB, a memory limit of `memory_mb` (an out-of-memory kill is
    /// answered `Runtime.OutOfMemory`), the cgroup freezer, Lambda's CPU count, and REPORT's Max
    /// Memory Used from the cgroup. Off by default in the library (it needs a writable cgroup,
    /// usually root, and slows small functions as Lambda does); `grace serve` and `grace check`
    /// turn it on. Where no cgroup is writable the environment runs without it (see
    /// [`crate::resource_support`]).
    pub resource_model: bool,
    /// Where the cgroup filesystems are mounted (`None`: `/sys/fs/cgroup`).
    pub cgroup_root: Option<PathBuf>,
}

impl FunctionConfig {
    /// A function with Lambda's defaults: 128 MB, 3 s timeout, 10 s init limit, freezing on,
    /// concurrency 10, no idle spin-down; the resource model off.
    pub fn new(name: impl Into<String>, command: Vec<OsString>, task_root: PathBuf) -> Self {
        Self {
            name: name.into(),
            command,
            task_root,
            handler: "bootstrap".to_owned(),
            env: Vec::new(),
            layers: Vec::new(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(10),
            idle_shutdown: None,
            concurrency: 10,
            freeze: true,
            budgets: ShutdownBudgets::default(),
            async_retry_delay: Duration::from_secs(60),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            execution_env: None,
            inspect_shutdown: false,
            resource_model: false,
            cgroup_root: None,
        }
    }

    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.name
        )
    }

    /// The version every invoke executes.
    pub fn version(&self) -> &'static str {
        "$LATEST"
    }
}
