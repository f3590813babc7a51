//! Who commands a robot, and how well that is checked.
//!
//! Single controller (`sim serve`, on by default). Every command frame
//! carries its controller's id (`wire`: the `flags` word of "GCM1", random
//! per `ZenohPlant`). The first controller to command owns the robot until
//! it goes silent past the robot's watchdog; commands from any other id in
//! the meantime are dropped and counted, and the robot says so (an event,
//! its status, and the owner's tag in its sensor frames, so the refused
//! controller's own safety filter reports `node_fault`). With several
//! controllers allowed, all commands are applied, and a second one is still
//! reported. The id tells honest controllers apart; it is no credential:
//! against a hostile peer the robot needs mutual TLS and `--controller-cn`.
//!
//! Command authentication (`CommandAuth`): without mutual TLS on every
//! link, anyone who reaches the robot's endpoint may command it and latch
//! its e-stop. The robot says so at start (stderr, its `serving` event) and
//! in every status message, and `ganglion top` shows it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::wire::{FLAG_OWNED, OWNER_TAG_SHIFT};
use super::{Endpoints, LinkSecurity};

/// How a robot knows who may command it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandAuth {
    /// Some link is plain TCP or TLS without client certificates: any peer
    /// that reaches the robot may command it.
    None,
    /// Mutual TLS on every link: any certificate of the CA may command.
    MutualTls,
    /// Mutual TLS and an access-control rule: only the named controller.
    ControllerCn,
}

impl CommandAuth {
    pub fn of(endpoints: &Endpoints, security: &LinkSecurity) -> Self {
        let mutual = security.tls.as_ref().is_some_and(|t| t.mutual);
        let all_tls = endpoints
            .listen
            .iter()
            .chain(&endpoints.connect)
            .all(|e| e.starts_with("tls/"));
        if mutual && security.controller_cn.is_some() {
            CommandAuth::ControllerCn
        } else if mutual && all_tls && !endpoints.multicast {
            CommandAuth::MutualTls
        } else {
            CommandAuth::None
        }
    }

    /// As reported (`status.command_auth`).
    pub fn name(self) -> &'static str {
        match self {
            CommandAuth::None => "none",
            CommandAuth::MutualTls => "mtls",
            CommandAuth::ControllerCn => "mtls+cn",
        }
    }

    /// The warning a robot gives at start, if it needs one.
    pub fn warning(self, robot: &str, endpoints: &Endpoints) -> Option<String> {
        (self == CommandAuth::None).then(|| {
            format!(
                "robot `{robot}` accepts commands and e-stops from any peer that reaches {}: \
                 no mutual TLS. Serve with --tls-ca/--tls-cert/--tls-key --mtls \
                 --controller-cn NAME on tls/ endpoints only",
                endpoints.listen.join(", ")
            )
        })
    }
}

/// A controller id as reported (`0x1234abcd`).
pub fn id_text(id: u32) -> String {
    format!("{id:#010x}")
}

/// A fresh, non-zero controller id (not a secret: it tells controllers apart).
pub fn new_controller_id() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() as u32).max(1)
}

/// The sensor-frame flags that name the owner (`FLAG_OWNED` and its tag).
pub fn owner_flags(owner: Option<u32>) -> u32 {
    owner.map_or(0, |id| FLAG_OWNED | (id & 0xFFFF) << OWNER_TAG_SHIFT)
}

/// Whether sensor-frame `flags` say the robot is owned by another
/// controller than `id`.
pub fn owned_by_other(flags: u32, id: u32) -> bool {
    flags & FLAG_OWNED != 0 && flags >> OWNER_TAG_SHIFT != id & 0xFFFF
}

#[derive(Default)]
struct Owner {
    id: u32,
    last: Option<Instant>,
}

/// The robot's command gate, shared by the command callback (zenoh's
/// threads) and the physics loop (which reads the counters).
pub struct CommandOwner {
    single: bool,
    watchdog: Duration,
    owner: Mutex<Owner>,
    /// Owner id + 1 (0: none yet).
    owner_id: AtomicU64,
    /// Owner changes so far.
    changes: AtomicU64,
    /// Commands from other controllers: dropped (single) or applied.
    others: AtomicU64,
    /// The id of the last other controller heard.
    last_other: AtomicU32,
}

impl CommandOwner {
    pub fn new(single: bool, watchdog: Duration) -> Self {
        CommandOwner {
            single,
            watchdog,
            owner: Mutex::new(Owner::default()),
            owner_id: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            others: AtomicU64::new(0),
            last_other: AtomicU32::new(0),
        }
    }

    pub fn single(&self) -> bool {
        self.single
    }

    /// A command from controller `id` arrived at `at`: whether to apply it.
    pub fn admit(&self, id: u32, at: Instant) -> bool {
        let Ok(mut o) = self.owner.lock() else {
            return !self.single;
        };
        let silent = o
            .last
            .is_none_or(|t| at.saturating_duration_since(t) > self.watchdog);
        if o.id == id && o.last.is_some() {
            o.last = Some(at);
            return true;
        }
        if silent {
            o.id = id;
            o.last = Some(at);
            self.owner_id.store(id as u64 + 1, Ordering::Release);
            self.changes.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        self.last_other.store(id, Ordering::Release);
        self.others.fetch_add(1, Ordering::AcqRel);
        !self.single
    }

    /// The controller that owns the robot (the last to take it).
    pub fn owner(&self) -> Option<u32> {
        self.owner_id
            .load(Ordering::Acquire)
            .checked_sub(1)
            .map(|v| v as u32)
    }

    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Commands from other controllers so far, and the last one's id.
    pub fn others(&self) -> (u64, u32) {
        (
            self.others.load(Ordering::Acquire),
            self.last_other.load(Ordering::Acquire),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_controller_owns_until_silent() {
        let gate = CommandOwner::new(true, Duration::from_millis(100));
        let t = Instant::now();
        let ms = |m| t + Duration::from_millis(m);
        assert!(gate.admit(7, t));
        assert!(!gate.admit(9, ms(10)));
        assert!(gate.admit(7, ms(50)));
        assert!(!gate.admit(9, ms(120)));
        assert_eq!(gate.owner(), Some(7));
        assert_eq!(gate.others(), (2, 9));
        // 7 silent past the watchdog: 9 takes over.
        assert!(gate.admit(9, ms(300)));
        assert_eq!(gate.owner(), Some(9));
        assert_eq!(gate.changes(), 2);
        assert!(!gate.admit(7, ms(310)));

        let many = CommandOwner::new(false, Duration::from_millis(100));
        assert!(many.admit(7, t));
        assert!(many.admit(9, ms(10)));
        assert_eq!(many.others(), (1, 9));
    }

    #[test]
    fn owner_tags_and_auth() {
        let f = owner_flags(Some(0xABCD_1234));
        assert!(!owned_by_other(f, 0xABCD_1234));
        assert!(owned_by_other(f, 0x1111_1235));
        assert!(!owned_by_other(owner_flags(None), 5));
        assert_ne!(new_controller_id(), 0);
        let plain = Endpoints {
            listen: vec!["tcp/127.0.0.1:7447".into()],
            ..Default::default()
        };
        let sec = LinkSecurity::default();
        assert_eq!(CommandAuth::of(&plain, &sec), CommandAuth::None);
        assert!(
            CommandAuth::None
                .warning("cartpole", &plain)
                .is_some_and(|w| w.contains("tcp/127.0.0.1:7447"))
        );
        assert_eq!(CommandAuth::ControllerCn.warning("cartpole", &plain), None);
    }
}
