use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io;
use std::path::{Path, PathBuf};

/// What to mount for a snapshot: overlay with `lower` (topmost first) under `upper`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// The kernel splits overlay options on `,` and lower dirs on `:`; both can be escaped.
fn escape(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl MountSpec {
    /// The overlay mount data string.
    pub fn options(&self) -> String {
        let lower: Vec<String> = self.lower.iter().map(|p| escape(p)).collect();
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            escape(&self.upper),
            escape(&self.work)
        )
    }

    /// Mounts the overlay on `target`, which must exist.
    pub fn mount(&self, target: &Path) -> io::Result<()> {
        let opts = self.options();
        // Mount data is one page; beyond it the kernel truncates silently or fails obscurely.
        if opts.len() >= 4096 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "overlay options for {} are too long ({} bytes)",
                    target.display(),
                    opts.len()
                ),
            ));
        }
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("mount overlay on {}: {e}", target.display()),
            )
        })
    }
}

/// Lazily detaches whatever is mounted on `target`; nothing mounted (or no target) is fine.
pub fn unmount(target: &Path) -> io::Result<()> {
    match umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
        Err(e) => Err(io::Error::new(
            io::Error::from(e).kind(),
            format!("unmount {}: {e}", target.display()),
        )),
    }
}
