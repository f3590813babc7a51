//! A fixed-size byte ring buffer: the queues between the UART interrupt and
//! the main loop (received bytes one way, encoded frames the other). No heap;
//! both sides reach it inside a critical section, so it needs no atomics.

pub struct Ring<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
}

impl<const N: usize> Ring<N> {
    pub const fn new() -> Self {
        Ring {
            buf: [0; N],
            head: 0,
            len: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn free(&self) -> usize {
        N - self.len
    }

    /// Appends as many of `bytes` as fit; returns how many did.
    pub fn push_some(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        for (i, &b) in bytes[..n].iter().enumerate() {
            self.buf[(self.head + self.len + i) % N] = b;
        }
        self.len += n;
        n
    }

    /// Appends all of `bytes` or, if they do not fit, nothing: a frame is
    /// queued whole or dropped whole, so a full queue never sends a torn one.
    pub fn push_all(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.free() {
            return false;
        }
        self.push_some(bytes);
        true
    }

    /// Moves up to `out.len()` of the oldest bytes into `out`; returns how
    /// many.
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.buf[(self.head + i) % N];
        }
        self.consume(n);
        n
    }

    /// The oldest bytes that lie contiguously in memory (all of them unless
    /// they wrap around the end), for handing to a FIFO without a copy.
    pub fn contiguous(&self) -> &[u8] {
        let end = (self.head + self.len).min(N);
        &self.buf[self.head..end]
    }

    /// Drops the `n` oldest bytes (at most all of them).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = (self.head + n) % N;
        self.len -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn wraps_and_keeps_order() {
        let mut r = Ring::<8>::new();
        let mut out = [0u8; 8];
        for round in 0..50u8 {
            let data = [round, round.wrapping_add(1), round.wrapping_add(2)];
            assert!(r.push_all(&data));
            let mut got = [0u8; 3];
            let mut n = 0;
            while n < 3 {
                let c = r.contiguous();
                assert!(!c.is_empty());
                let k = c.len().min(3 - n);
                got[n..n + k].copy_from_slice(&c[..k]);
                r.consume(k);
                n += k;
            }
            assert_eq!(got, data);
            assert!(r.is_empty());
        }
        assert_eq!(r.push_some(&[1; 10]), 8);
        assert!(!r.push_all(&[2]));
        assert_eq!(r.pop_into(&mut out[..5]), 5);
        assert_eq!(r.free(), 5);
        assert!(r.push_all(&[7; 5]));
        assert_eq!(r.pop_into(&mut out), 8);
        assert_eq!(out, [1, 1, 1, 7, 7, 7, 7, 7]);
    }
}
