//! Starting an MPI job from a test: `mpirun` on this machine, bounded in time.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How an MPI job ended and what it printed.
#[derive(Debug, Clone)]
pub struct MpiJob {
    /// Whether `mpirun` exited with status 0 (every rank did).
    pub success: bool,
    /// Every rank's standard output, as `mpirun` gathered it.
    pub stdout: String,
    /// Every rank's standard error, and `mpirun`'s own messages.
    pub stderr: String,
}

impl MpiJob {
    /// Standard output, then standard error.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `mpirun --oversubscribe ARGS...` with `env` added to the environment a test job
/// on a small machine needs: root allowed (CI runs as root, and OpenMPI refuses to
/// otherwise), waiting ranks giving their core away (more ranks than cores), one matrix
/// thread per rank. One job at a time in a test process: waiting ranks spin, and two
/// jobs on a small machine would starve each other.
///
/// Returns `None` when there is no `mpirun`, so the caller can skip, unless the
/// environment sets `LOCUS_REQUIRE_MPI` (CI does), which makes that a failure.
///
/// # Panics
/// When the job runs past `deadline` (it is killed first: only a hang takes that long),
/// naming `what` and with everything it printed; when `mpirun` cannot be started.
pub fn mpirun(
    what: &str,
    args: &[String],
    env: &[(&str, &str)],
    deadline: Duration,
) -> Option<MpiJob> {
    if Command::new("mpirun").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("LOCUS_REQUIRE_MPI").is_none(),
            "LOCUS_REQUIRE_MPI is set but mpirun was not found"
        );
        eprintln!("skipped: mpirun not found (Debian: openmpi-bin, libopenmpi-dev)");
        return None;
    }
    static ONE_JOB: Mutex<()> = Mutex::new(());
    let _job = ONE_JOB.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new("mpirun")
        .arg("--oversubscribe")
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_mpi_yield_when_idle", "1")
        .env("MATMUL_NUM_THREADS", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun starts");
    // Read on threads, so that a full pipe never stops the ranks.
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = read(Box::new(child.stdout.take().expect("piped")));
    let err = read(Box::new(child.stderr.take().expect("piped")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("mpirun can be waited for") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let job = MpiJob {
        success: status.is_some_and(|s| s.success()),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "{what} took more than {deadline:?}: a hang\n{}",
        job.output()
    );
    Some(job)
}
