//! A minimal ustar writer for the archives meshctl sends to the Engine: image
//! build contexts and the BusyBox root filesystem.
//!
//! Entries are directories, regular files and symlinks, all owned by
//! root:root (uid and gid 0) with mtime 0, so that identical inputs give
//! identical bytes. Names and link targets must fit ustar's 100-byte fields
//! (the `prefix` field is not used); longer ones are refused rather than cut.
//!
//! ```
//! let mut tar = meshctl::tar::Tar::default();
//! tar.dir("bin", 0o755)?;
//! tar.file("bin/hello", 0o755, b"#!/bin/sh\necho hello\n")?;
//! tar.symlink("bin/hi", "hello")?;
//! let bytes = tar.finish();
//! assert_eq!(bytes.len() % 512, 0);
//! # Ok::<(), meshctl::tar::TarError>(())
//! ```

/// Size of a header and the unit every entry is padded to.
const BLOCK: usize = 512;
/// Length of the `name` and `linkname` header fields.
const NAME_LEN: usize = 100;
/// The largest size the 11 octal digits of the `size` field can hold.
const MAX_SIZE: u64 = 0o77_777_777_777;

/// An entry the ustar format cannot hold as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarError {
    /// Shorten the path: ustar names hold 100 bytes.
    #[error("tar entry name is longer than {NAME_LEN} bytes: {0}")]
    NameTooLong(String),
    /// Shorten the target: ustar link targets hold 100 bytes.
    #[error("tar entry {name}: link target is longer than {NAME_LEN} bytes: {target}")]
    LinkTooLong { name: String, target: String },
    /// Leave the file out: ustar sizes stop just below 8 GiB.
    #[error("tar entry {name}: {size} bytes is more than ustar can hold")]
    TooLarge { name: String, size: u64 },
}

/// An archive being written in memory; [`Tar::finish`] returns its bytes.
#[derive(Debug, Default)]
pub struct Tar {
    buf: Vec<u8>,
}

impl Tar {
    /// Adds directory `name` (without the trailing slash, which is added).
    pub fn dir(&mut self, name: &str, mode: u32) -> Result<(), TarError> {
        let stored = format!("{name}/");
        if stored.len() > NAME_LEN {
            return Err(TarError::NameTooLong(name.to_string()));
        }
        self.header(&stored, mode, 0, b'5', "");
        Ok(())
    }

    /// Adds regular file `name` holding `data`.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<(), TarError> {
        check_name(name)?;
        let size = data.len() as u64;
        if size > MAX_SIZE {
            return Err(TarError::TooLarge {
                name: name.to_string(),
                size,
            });
        }
        self.header(name, mode, size, b'0', "");
        self.buf.extend_from_slice(data);
        self.pad();
        Ok(())
    }

    /// Adds symlink `name` pointing at `target`.
    pub fn symlink(&mut self, name: &str, target: &str) -> Result<(), TarError> {
        check_name(name)?;
        if target.len() > NAME_LEN {
            return Err(TarError::LinkTooLong {
                name: name.to_string(),
                target: target.to_string(),
            });
        }
        self.header(name, 0o777, 0, b'2', target);
        Ok(())
    }

    /// The archive, closed by the two zero blocks that end a tar.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend(std::iter::repeat_n(0u8, 2 * BLOCK));
        self.buf
    }

    /// Writes one header block; `name` and `link` are checked by the caller.
    fn header(&mut self, name: &str, mode: u32, size: u64, kind: u8, link: &str) {
        let mut h = [0u8; BLOCK];
        let mut put = |at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
        put(0, name.as_bytes());
        put(100, format!("{:07o}\0", mode & 0o7777).as_bytes());
        put(108, b"0000000\0"); // uid
        put(116, b"0000000\0"); // gid
        put(124, format!("{size:011o}\0").as_bytes());
        put(136, b"00000000000\0"); // mtime
        put(148, b"        "); // the checksum counts its own field as spaces
        put(156, &[kind]);
        put(157, link.as_bytes());
        put(257, b"ustar\x0000");
        put(265, b"root");
        put(297, b"root");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.buf.extend_from_slice(&h);
    }

    /// Zeros up to the next block boundary, after a file's data.
    fn pad(&mut self) {
        let pad = (BLOCK - self.buf.len() % BLOCK) % BLOCK;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
    }
}

fn check_name(name: &str) -> Result<(), TarError> {
    if name.len() > NAME_LEN {
        return Err(TarError::NameTooLong(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut t = Tar::default();
        t.dir("bin", 0o755).unwrap();
        t.file("bin/x", 0o755, b"hello").unwrap();
        t.symlink("bin/sh", "/bin/busybox").unwrap();
        t.finish()
    }

    #[test]
    fn headers_have_valid_checksums() {
        let b = sample();
        assert_eq!(b.len() % 512, 0);
        // The directory, the file (its 5 bytes padded to a block), the symlink.
        for at in [0usize, 512, 1536] {
            let h = &b[at..at + 512];
            let stored = std::str::from_utf8(&h[148..154]).unwrap();
            let mut copy = h.to_vec();
            copy[148..156].copy_from_slice(b"        ");
            let sum: u32 = copy.iter().map(|&x| u32::from(x)).sum();
            assert_eq!(u32::from_str_radix(stored, 8).unwrap(), sum);
        }
        assert_eq!(b.len(), 4 * 512 + 1024);
    }

    #[test]
    fn identical_inputs_give_identical_bytes() {
        assert_eq!(sample(), sample());
    }

    #[test]
    fn system_tar_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar");
        std::fs::write(&archive, sample()).unwrap();

        let listed = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&archive)
            .env("TZ", "UTC")
            .output()
            .expect("run tar -tvf");
        assert!(listed.status.success(), "{listed:?}");
        let listed = String::from_utf8(listed.stdout).unwrap();
        let rows: Vec<Vec<&str>> = listed
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let expected: [&[&str]; 3] = [
            &[
                "drwxr-xr-x",
                "root/root",
                "0",
                "1970-01-01",
                "00:00",
                "bin/",
            ],
            &[
                "-rwxr-xr-x",
                "root/root",
                "5",
                "1970-01-01",
                "00:00",
                "bin/x",
            ],
            &[
                "lrwxrwxrwx",
                "root/root",
                "0",
                "1970-01-01",
                "00:00",
                "bin/sh",
                "->",
                "/bin/busybox",
            ],
        ];
        assert_eq!(rows, expected, "{listed}");

        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let extracted = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&out)
            .output()
            .expect("run tar -xf");
        assert!(extracted.status.success(), "{extracted:?}");
        assert_eq!(std::fs::read(out.join("bin/x")).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_link(out.join("bin/sh")).unwrap(),
            std::path::Path::new("/bin/busybox")
        );
    }

    #[test]
    fn long_names_are_refused_with_the_entry() {
        let long = format!("{}/x", "d".repeat(99));
        let mut t = Tar::default();
        let err = t.file(&long, 0o644, b"").unwrap_err();
        assert_eq!(err, TarError::NameTooLong(long.clone()));
        assert!(err.to_string().contains(&long), "{err}");
        assert!(t.dir(&"d".repeat(100), 0o755).is_err());
        assert!(t.symlink("bin/sh", &long).is_err());
        // Exactly 100 bytes fits: the field needs no terminating NUL.
        t.file(&"f".repeat(100), 0o644, b"").unwrap();
        // Nothing refused was written.
        assert_eq!(t.finish().len(), 512 + 1024);
    }
}
