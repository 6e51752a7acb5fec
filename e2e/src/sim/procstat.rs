//! CPU time and resident memory of a process, read from `/proc`, to measure the manager
//! while the simulated fleet runs.

use std::time::Duration;

/// One reading of a process's accounting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// User + system CPU time consumed so far.
    pub cpu: Duration,
    /// Resident set size in bytes.
    pub rss: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
pub fn sample(pid: u32) -> std::io::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 11 and 12 after ')'.
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    // The kernel's USER_HZ is 100 on every Linux we run on.
    Ok(Sample {
        cpu: Duration::from_millis(ticks * 10),
        rss: rss_kb * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(
            s.rss > 1024 * 1024,
            "a test process has more than 1 MiB resident"
        );
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(sample(std::process::id()).unwrap().cpu >= s.cpu);
    }
}
