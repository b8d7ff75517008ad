//! The driver's processes: launching the runtime and the external extensions (own process
//! group, orphan watch, output into the log, exit reported back as an input), and the readings
//! of what the runtime holds while it shuts down.

use super::*;

impl Driver {
    /// Starts a process of this environment: own process group, watched for orphans, its
    /// output in the log, its exit reported.
    pub(super) fn launch(&mut self, role: Role, name: String) -> Input {
        let spec = match role {
            Role::Runtime => {
                let Some((program, args)) = self.cfg.command.split_first() else {
                    return Input::LaunchFailed {
                        role,
                        name,
                        error: "no bootstrap command".to_owned(),
                    };
                };
                ProcessSpec {
                    program: program.clone(),
                    args: args.to_vec(),
                    cwd: self.cfg.task_root.clone(),
                    env: vars::runtime_env(&self.cfg, self.runtime_api),
                }
            }
            Role::Extension => {
                let Some((_, path)) = self.extension_paths.iter().find(|(n, _)| *n == name) else {
                    return Input::LaunchFailed {
                        role,
                        name,
                        error: "not found in any layer".to_owned(),
                    };
                };
                ProcessSpec {
                    program: path.clone().into_os_string(),
                    args: Vec::new(),
                    cwd: path
                        .parent()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| self.cfg.task_root.clone()),
                    env: vars::extension_env(&self.cfg, self.runtime_api),
                }
            }
        };
        match self.start_process(role, &name, &spec) {
            Ok(pid) => Input::Launched { role, name, pid },
            Err(e) => {
                let error = match role {
                    Role::Runtime => {
                        format!("cannot start {}: {e}", spec.program.to_string_lossy())
                    }
                    Role::Extension => e.to_string(),
                };
                Input::LaunchFailed { role, name, error }
            }
        }
    }

    fn start_process(
        &mut self,
        role: Role,
        name: &str,
        spec: &ProcessSpec,
    ) -> std::io::Result<Pid> {
        let wrapped;
        let spec = match &self.resources {
            Some(resources) => {
                wrapped = resources.wrap(spec)?;
                &wrapped
            }
            None => spec,
        };
        let spawned = match &self.cpus {
            Some(cpus) => cpus.spawn_within(|| sys::spawn(spec))?,
            None => sys::spawn(spec)?,
        };
        let pid = spawned.pid;
        self.watchdog.add(pid);
        let label = (role == Role::Extension).then(|| name.to_owned());
        let output = Arc::new(ProcessOutput::new(spawned.output, label)?);
        self.outputs.push(Arc::clone(&output));
        self.tasks.spawn(output.pump(Arc::clone(&self.log)));
        let tx = self.tx.clone();
        let mut child = spawned.child;
        let oom = self.resources.as_ref().map(Resources::oom_probe);
        self.tasks.spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => Exit::from_status(status),
                Err(_) => Exit::Code(-1),
            };
            if oom.is_some_and(|o| o.killed_for_memory(exit)) {
                let _ = tx.send(Msg::Input(Input::OutOfMemory, None));
            }
            let _ = tx.send(Msg::Input(Input::Exited { pid, exit }, None));
        });
        Ok(pid)
    }
}
