//! Downloading one file of a data set from a list of mirrors: into `<file>.gz.part`, resumed
//! with an HTTP Range request when a part is there, checked against its SHA-256, and only
//! then renamed into place, so a file under its real name is never corrupt.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use super::catalog::FileSpec;
use super::check::{part_path, sha256_of};

/// The most a response may hold when the file's size is not known (test checksums).
const UNKNOWN_SIZE_LIMIT: u64 = 1 << 30;

/// Why one mirror did not give a good file.
#[derive(Debug, Clone)]
pub struct MirrorFailure {
    /// The file's URL on that mirror.
    pub url: String,
    /// What went wrong, for the user.
    pub reason: String,
}

impl std::fmt::Display for MirrorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.reason)
    }
}

/// A file that is now in place.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it came from (the last part of it, when it was resumed).
    pub url: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The bytes of an earlier, unfinished download it went on from (0: none).
    pub resumed_from: u64,
}

/// An HTTP client for data files.
pub struct Downloader {
    agent: ureq::Agent,
}

impl Downloader {
    /// A client that follows redirects, gives up on a connection after 30 s and on a
    /// transfer that stalls for 60 s, and reports every HTTP status itself.
    pub fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("locus/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Downloads `spec` into `dir` from the first of `mirrors` (base URLs) that gives a file
    /// with the right SHA-256, and renames it to `<dir>/<name>.gz`. An unfinished download
    /// left in `<name>.gz.part` is continued; one that fails its checksum is deleted.
    /// `on_failure` hears of each mirror that failed, when it fails.
    ///
    /// # Errors
    /// Every mirror's failure, in order, when none gave a good file.
    pub fn fetch(
        &self,
        dir: &Path,
        spec: &FileSpec,
        mirrors: &[String],
        mut on_failure: impl FnMut(&MirrorFailure),
    ) -> Result<Fetched, Vec<MirrorFailure>> {
        let mut failures = Vec::new();
        for mirror in mirrors {
            let url = file_url(mirror, &spec.gz_name());
            match self.try_mirror(dir, spec, &url) {
                Ok(fetched) => return Ok(fetched),
                Err(reason) => {
                    let failure = MirrorFailure { url, reason };
                    on_failure(&failure);
                    failures.push(failure);
                }
            }
        }
        Err(failures)
    }

    fn try_mirror(&self, dir: &Path, spec: &FileSpec, url: &str) -> Result<Fetched, String> {
        let part = part_path(dir, spec);
        let mut resumed_from = self.transfer(url, &part, spec)?;
        let mut actual = checksum(&part)?;
        if actual != spec.gz_sha256 && resumed_from > 0 {
            // The bytes kept from an earlier attempt, not this mirror, may be what is wrong.
            remove(&part)?;
            resumed_from = self.transfer(url, &part, spec)?;
            actual = checksum(&part)?;
        }
        if actual != spec.gz_sha256 {
            remove(&part)?;
            return Err(format!(
                "the file's SHA-256 is {actual}, not {}; it was deleted",
                spec.gz_sha256
            ));
        }
        let bytes = part.metadata().map_err(|e| io_error(&part, &e))?.len();
        let target = dir.join(spec.gz_name());
        fs::rename(&part, &target).map_err(|e| {
            format!(
                "cannot rename {} to {}: {e}",
                part.display(),
                target.display()
            )
        })?;
        Ok(Fetched {
            url: url.to_string(),
            bytes,
            resumed_from,
        })
    }

    /// Brings `part` to the end of the file at `url`, asking only for the bytes after the
    /// ones it already holds. Returns how many it held and kept.
    fn transfer(&self, url: &str, part: &Path, spec: &FileSpec) -> Result<u64, String> {
        let mut held = part.metadata().map_or(0, |m| m.len());
        if let Some(size) = spec.gz_size {
            if held > size {
                remove(part)?;
                held = 0;
            } else if held == size {
                return Ok(held); // complete already: the checksum decides
            }
        }
        let mut request = self.agent.get(url);
        if held > 0 {
            request = request.header("Range", format!("bytes={held}-"));
        }
        let response = request.call().map_err(|e| e.to_string())?;
        let status = response.status();
        let start = match status.as_u16() {
            200 => 0,
            206 if held > 0 => {
                let range = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if range_start(range) != Some(held) {
                    return Err(format!(
                        "asked for the bytes from {held} on, got the range {range:?}"
                    ));
                }
                held
            }
            // Nothing after the bytes held: the part may be whole, the checksum decides.
            416 if held > 0 => return Ok(held),
            _ => {
                let reason = status.canonical_reason().unwrap_or("");
                return Err(format!("HTTP {} {reason}", status.as_u16()));
            }
        };
        let announced = response.body().content_length();
        let limit = spec
            .gz_size
            .map_or(UNKNOWN_SIZE_LIMIT, |size| size.saturating_sub(start));
        let mut body = response
            .into_body()
            .into_with_config()
            .limit(limit)
            .reader();
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(part)
            .map_err(|e| io_error(part, &e))?;
        file.set_len(start)
            .and_then(|()| file.seek(SeekFrom::Start(start)).map(drop))
            .map_err(|e| io_error(part, &e))?;
        let broke_off = |got: u64, why: &dyn std::fmt::Display| {
            format!(
                "the transfer broke off after {got} bytes ({why}); the {} bytes received \
                 are kept in {} for the next attempt",
                start + got,
                part.display()
            )
        };
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0u64;
        loop {
            match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    file.write_all(&buf[..n]).map_err(|e| io_error(part, &e))?;
                    got += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    file.sync_all().map_err(|e| io_error(part, &e))?;
                    return Err(broke_off(got, &e));
                }
            }
        }
        file.sync_all().map_err(|e| io_error(part, &e))?;
        match announced {
            Some(len) if got < len => Err(broke_off(
                got,
                &format_args!("the connection closed before the {len} bytes announced"),
            )),
            _ => Ok(start),
        }
    }
}

/// `<mirror>/<name>`, with exactly one slash between.
fn file_url(mirror: &str, name: &str) -> String {
    format!("{}/{name}", mirror.trim_end_matches('/'))
}

/// The first byte of a `Content-Range: bytes <first>-<last>/<size>` header.
fn range_start(header: &str) -> Option<u64> {
    let range = header.trim().strip_prefix("bytes")?.trim_start();
    range.split_once('-')?.0.trim().parse().ok()
}

fn checksum(part: &Path) -> Result<String, String> {
    File::open(part)
        .and_then(sha256_of)
        .map_err(|e| io_error(part, &e))
}

fn remove(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(format!(
            "cannot delete the bad download {}: {e}",
            path.display()
        )),
        _ => Ok(()),
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(file_url("http://h/m/", "a.gz"), "http://h/m/a.gz");
        assert_eq!(file_url("http://h/m", "a.gz"), "http://h/m/a.gz");
    }

    #[test]
    fn content_range_gives_its_first_byte() {
        assert_eq!(range_start("bytes 100-999/1000"), Some(100));
        assert_eq!(range_start("bytes 0-0/*"), Some(0));
        assert_eq!(range_start("bytes */1000"), None);
        assert_eq!(range_start(""), None);
    }
}
