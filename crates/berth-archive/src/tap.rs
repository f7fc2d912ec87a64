//! A reader wrapper that hashes every byte (the diff ID is the sha256 of the whole
//! uncompressed stream) and remembers enough to tell a clean end from a truncation.

use berth_model::digest::Hasher;
use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

#[derive(Default)]
pub(crate) struct TapState {
    /// Bytes read so far.
    pub count: Cell<u64>,
    /// Length of the run of zero bytes ending at the last byte read.
    pub zero_run: Cell<u64>,
}

pub(crate) struct Tap<R> {
    inner: R,
    hasher: Hasher,
    state: Rc<TapState>,
}

impl<R: Read> Tap<R> {
    pub fn new(inner: R) -> (Self, Rc<TapState>) {
        let state = Rc::new(TapState::default());
        (
            Self {
                inner,
                hasher: Hasher::new(),
                state: state.clone(),
            },
            state,
        )
    }

    pub fn finish(self) -> berth_model::Digest {
        self.hasher.finish()
    }
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = &buf[..n];
        self.hasher.update(got);
        self.state.count.set(self.state.count.get() + n as u64);
        match got.iter().rposition(|b| *b != 0) {
            Some(last) => self.state.zero_run.set((n - last - 1) as u64),
            None => self
                .state
                .zero_run
                .set(self.state.zero_run.get() + n as u64),
        }
        Ok(n)
    }
}
