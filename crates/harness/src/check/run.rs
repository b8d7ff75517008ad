//! Running the check: the lifecycle under a fresh emulator, the verdicts on what it did, and,
//! when cleanup was SIGKILLed under Lambda's resource model, the search for the smallest memory
//! size at which it fits.

use super::*;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Runs the check on `function` under a fresh emulator (one environment at a time, with the
/// shutdown inspected) and returns the report. The emulator is closed before it returns.
///
/// When the runtime was SIGKILLed before its cleanup ended and Lambda's resource model applied
/// (so its CPU share followed its memory size), the shutdown is run again at the next larger
/// sizes, in Lambda's CPU steps, until cleanup fits: the smallest such size is in
/// [`Report::fits_at_mb`] and in the exit verdict's advice.
pub async fn run(function: FunctionConfig, options: &CheckOptions) -> Result<Report, Error> {
    let mut report = run_once(function.clone(), options).await?;
    let killed = report
        .verdict("exit")
        .is_some_and(|v| v.status == Status::Fail && v.detail.contains("SIGKILL"));
    if !(killed && report.resource_model.on) {
        return Ok(report);
    }
    // One cold invoke and the spin-down at each size: the cleanup is what is measured.
    let trial = CheckOptions {
        invokes: 0,
        reset: false,
        log: None,
        ..options.clone()
    };
    for size in MEMORY_STEPS_MB
        .iter()
        .copied()
        .filter(|s| *s > function.memory_mb)
    {
        let mut bigger = function.clone();
        bigger.memory_mb = size;
        let tried = run_once(bigger, &trial).await?;
        if tried
            .verdict("exit")
            .is_some_and(|v| v.status != Status::Fail)
        {
            report.fits_at_mb = Some(size);
            break;
        }
    }
    let fits = report.fits_at_mb;
    if let Some(exit) = report.verdicts.iter_mut().find(|v| v.id == "exit") {
        let found = match fits {
            Some(mb) => format!(
                "run again with more memory, its cleanup fits at {mb} MB (the smallest of Lambda's CPU steps where it exited before SIGKILL: a bigger share of a CPU); or make the cleanup cheaper"
            ),
            None => "its cleanup did not fit even at 10,240 MB: it waits on something other than CPU, or never ends".to_owned(),
        };
        let node = function
            .execution_env
            .as_deref()
            .is_some_and(|e| e.starts_with("AWS_Lambda_nodejs"));
        let found = if node && fits.is_none() {
            format!(
                "{found} (in Node.js, `process.exit()` in a SIGTERM handler can wait for aws-lambda-ric's native client, parked in its /next call, as under AWS's RIE: see docs/guide.md, \"SIGTERM in Node.js\")"
            )
        } else {
            found
        };
        exit.advice = Some(match exit.advice.take() {
            Some(advice) => format!("{advice}; {found}"),
            None => found,
        });
    }
    Ok(report)
}

/// Memory sizes tried when cleanup does not fit: where Lambda's CPU allotment changes step
/// (one vCPU's worth at 1,769 MB; 2 CPUs up to 3,008, 3 up to 5,307, 4 up to 7,076, 5 up to
/// 8,845, 6 at 10,240), and below one vCPU, doublings.
const MEMORY_STEPS_MB: [u32; 9] = [256, 512, 1024, 1769, 3008, 5307, 7076, 8845, 10240];

async fn run_once(mut function: FunctionConfig, options: &CheckOptions) -> Result<Report, Error> {
    function.concurrency = 1;
    function.inspect_shutdown = true;
    let name = function.name.clone();
    let resource_model = ResourceModel::of(&function);
    let lambda = Lambda::from(&function);
    let lines: Arc<Mutex<Vec<TimedLine>>> = Arc::default();
    let events: Arc<Mutex<Vec<LifecycleEvent>>> = Arc::default();
    let (line_sink, event_sink) = (Arc::clone(&lines), Arc::clone(&events));
    let forward = options.log.clone();
    let emulator_options = Options {
        log_sink: Arc::new(move |line: &LogLine<'_>| {
            if let Some(forward) = &forward {
                forward(line);
            }
            let l = TimedLine {
                time_us: now_us(),
                env: line.env,
                function_output: matches!(line.source, LogSource::Function),
                text: line.text.to_owned(),
            };
            line_sink.lock().unwrap_or_else(|e| e.into_inner()).push(l);
        }),
        event_observer: Some(Arc::new(move |e: &LifecycleEvent| {
            event_sink
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.clone());
        })),
        // No placement, even under the resource model (whose CPU count takes placement): pinned
        // next to the emulator's thread, the readings of what the runtime holds at SIGTERM ran
        // late enough to miss a quick cleanup.
        ..Options::default()
    };
    let emulator = Emulator::new(vec![function], emulator_options)?;
    let answers = drive(&emulator, &name, options).await;
    // Whatever happened, nothing is left running.
    let _ = emulator.close().await;
    let answers = answers?;
    let events = std::mem::take(&mut *events.lock().unwrap_or_else(|e| e.into_inner()));
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    let verdicts = analyse(&events, &lines, &answers, options.reset, &lambda);
    let mut report = Report::new(name, verdicts, answers, resource_model, events);
    // The runtime's shutdown report lines, for the hooks on the timeline.
    report.report_lines = lines
        .iter()
        .filter(|l| l.function_output && is_report_line(&l.text))
        .map(|l| OutputLine {
            time_us: l.time_us,
            env: l.env,
            text: l.text.clone(),
        })
        .collect();
    Ok(report)
}

/// The lifecycle: a cold invoke and the warm ones, idle, spin-down, and the optional reset.
async fn drive(
    emulator: &Emulator,
    name: &str,
    options: &CheckOptions,
) -> Result<Vec<Answer>, Error> {
    let mut answers = Vec::new();
    for _ in 0..=options.invokes {
        let out = emulator
            .invoke(InvokeInput::new(name, options.payload.clone()))
            .await;
        answers.push(Answer {
            status: out.status,
            function_error: out.function_error,
            body: String::from_utf8_lossy(&out.body)
                .chars()
                .take(300)
                .collect(),
        });
    }
    tokio::time::sleep(options.idle).await;
    emulator.spin_down(None).await.map_err(Error::SpinDown)?;
    if options.reset {
        let mut input = InvokeInput::new(name, options.payload.clone());
        input.timeout = Some(Duration::from_millis(1));
        emulator.invoke(input).await;
    }
    Ok(answers)
}

/// The verdicts on a run: the invokes, the spin-down of the first environment, and with
/// `reset`, the SIGTERM and exit of the second one (the reset).
pub(super) fn analyse(
    events: &[LifecycleEvent],
    lines: &[TimedLine],
    invokes: &[Answer],
    reset: bool,
    lambda: &Lambda,
) -> Vec<Verdict> {
    let mut envs: Vec<EnvId> = events.iter().map(|e| e.env).collect();
    envs.dedup();
    let mut verdicts = Vec::new();
    let init_failed = invokes.first().is_some_and(|a| a.function_error.is_some())
        && events
            .iter()
            .any(|e| matches!(e.kind, EventKind::InitFailed { .. }));
    let answered = invokes.iter().filter(|a| a.status == 200).count();
    let errors = invokes
        .iter()
        .filter(|a| a.function_error.is_some())
        .count();
    verdicts.push(Verdict {
        id: "invokes",
        title: "invokes are answered",
        status: if init_failed || answered < invokes.len() {
            Status::Fail
        } else if errors > 0 {
            Status::Warn
        } else {
            Status::Pass
        },
        detail: match invokes.iter().find(|a| a.function_error.is_some()) {
            Some(a) if init_failed => format!("init failed: {}", a.body),
            Some(a) => format!(
                "{answered} of {} answered, {errors} with a function error, e.g. {}",
                invokes.len(),
                a.body
            ),
            None => format!(
                "{answered} of {} answered (1 cold, {} warm)",
                invokes.len(),
                invokes.len().saturating_sub(1)
            ),
        },
        advice: init_failed.then(|| "fix the init error first; see the log above".to_owned()),
    });
    if let Some(&env) = envs.first() {
        verdicts.extend(shutdown_verdicts(events, env, lines, invokes.len(), lambda));
    }
    if reset {
        match envs.get(1) {
            Some(&env) => {
                for mut c in shutdown_verdicts(events, env, lines, 0, lambda) {
                    if c.id == "sigterm" || c.id == "exit" {
                        c.id = if c.id == "sigterm" {
                            "reset-sigterm"
                        } else {
                            "reset-exit"
                        };
                        c.title = if c.id == "reset-sigterm" {
                            "reset: SIGTERM mid-invoke"
                        } else {
                            "reset: exits before SIGKILL"
                        };
                        verdicts.push(c);
                    }
                }
            }
            None => verdicts.push(Verdict::new(
                "reset",
                "reset: SIGTERM mid-invoke",
                Status::Warn,
                "no timeout reset was observed",
            )),
        }
    }
    verdicts
}
