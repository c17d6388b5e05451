//! Who is registered, group membership and delivery. Deliveries never block: a frame goes into the recipient's
//! bounded queue, or is dropped and counted when the queue is full (slow consumer). A sender's messages are
//! handled one after another by its own connection task, which keeps per-pair FIFO.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::futures::Notified;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::metrics::{Metrics, Mode, OutType};
use crate::proto::{self, Carry};

/// One outbound frame; broadcasts share a single allocation between recipients.
#[derive(Debug)]
pub enum Out {
    Own(String),
    Shared(Arc<str>),
}

impl Out {
    pub fn len(&self) -> usize {
        match self {
            Out::Own(s) => s.len(),
            Out::Shared(s) => s.len(),
        }
    }

    pub fn into_string(self) -> String {
        match self {
            Out::Own(s) => s,
            Out::Shared(s) => s.to_string(),
        }
    }
}

/// A connection's bounded outbound queue. Hand-rolled rather than tokio's mpsc: that one costs about 1.5 KiB per
/// connection even when empty (cache-padded channel state plus a 32-slot block), this one ~100 bytes plus what
/// is queued, which is most of the way to the ~8 KiB per idle connection the bus aims at.
pub struct Queue {
    items: Mutex<VecDeque<Out>>,
    ready: Notify,
    cap: usize,
}

pub type Tx = Arc<Queue>;

/// Capacity kept by an emptied queue; a burst's larger buffer is given back.
const KEEP: usize = 16;

impl Queue {
    pub fn new(cap: usize) -> Tx {
        Arc::new(Queue { items: Mutex::new(VecDeque::new()), ready: Notify::new(), cap })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Out>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends out unless the queue is full, in which case out is handed back (the newest frame is the one lost).
    pub fn try_push(&self, out: Out) -> Result<(), Out> {
        {
            let mut q = self.lock();
            if q.len() >= self.cap {
                return Err(out);
            }
            q.push_back(out);
        }
        // Stores a permit when the consumer is not waiting, so a push between its check and its wait is not lost.
        self.ready.notify_one();
        Ok(())
    }

    pub fn try_pop(&self) -> Option<Out> {
        let mut q = self.lock();
        let out = q.pop_front();
        if q.is_empty() && q.capacity() > KEEP {
            q.shrink_to(KEEP);
        }
        out
    }

    /// Completes after a push (or at once if one happened since the last wake-up).
    pub fn notified(&self) -> Notified<'_> {
        self.ready.notified()
    }
}

/// A connection's successful registration.
#[derive(Debug)]
pub struct Registration {
    pub id: Box<str>,
    pub id_json: Arc<str>,
    pub groups: Vec<Box<str>>,
}

struct Agent {
    conn: u64,
    tx: Tx,
    id_json: Arc<str>,
}

struct Member {
    conn: u64,
    tx: Tx,
    id_json: Arc<str>,
}

/// Members in registration order and the round-robin cursor (index of the next member to try).
struct Group {
    name_json: Arc<str>,
    members: Vec<Member>,
    cursor: usize,
}

#[derive(Default)]
struct Inner {
    agents: HashMap<Box<str>, Agent>,
    groups: HashMap<Box<str>, Group>,
}

/// Planted faults (Config::plant_*): test knobs for the lab's calibration, never tuning. They touch msg deliveries
/// only, never registered/pong/error frames.
#[derive(Default)]
struct Plant {
    every: u64,
    n: AtomicU64,
    delay: Duration,
    /// The delay line: with one constant delay, FIFO order is due order, so one task delivers them in order.
    line: Option<mpsc::UnboundedSender<Delayed>>,
}

/// A msg delivery held by the planted delay until `due`.
pub struct Delayed {
    due: Instant,
    tx: Tx,
    out: Out,
    mode: Mode,
}

#[derive(Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    pub metrics: Metrics,
    plant: Plant,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the whole bus down with a poisoned lock.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a frame for a connection; false if it was dropped because the queue is full.
    pub fn push(&self, tx: &Tx, out: Out, kind: OutType) -> bool {
        let len = out.len();
        match tx.try_push(out) {
            Ok(()) => {
                self.metrics.message_out(kind, len);
                true
            }
            Err(_) => {
                self.metrics.dropped_slow_consumer.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                false
            }
        }
    }

    fn deliver(&self, tx: &Tx, out: Out, mode: Mode) {
        if self.plant.every > 0 && (self.plant.n.fetch_add(1, Relaxed) + 1) % self.plant.every == 0 {
            self.metrics.dropped_planted.fetch_add(1, Relaxed);
            return;
        }
        if let Some(line) = &self.plant.line {
            let d = Delayed { due: Instant::now() + self.plant.delay, tx: tx.clone(), out, mode };
            // The receiver lives as long as the runtime; a send after it ended loses a frame of a bus going away.
            let _ = line.send(d);
            return;
        }
        self.deliver_now(tx, out, mode);
    }

    fn deliver_now(&self, tx: &Tx, out: Out, mode: Mode) {
        if self.push(tx, out, OutType::Msg) {
            self.metrics.delivery(mode);
        }
    }

    /// A hub with planted faults; with a delay it also returns the delay line's receiver, which `run_delay_line`
    /// must drain.
    pub fn with_plant(delay_ms: u64, drop_every: u64) -> (Hub, Option<mpsc::UnboundedReceiver<Delayed>>) {
        let mut hub = Hub::default();
        hub.plant.every = drop_every;
        let mut rx = None;
        if delay_ms > 0 {
            let (tx, r) = mpsc::unbounded_channel();
            hub.plant.delay = Duration::from_millis(delay_ms);
            hub.plant.line = Some(tx);
            rx = Some(r);
        }
        (hub, rx)
    }

    /// Delivers the delay line's frames at their due time, in order, until every sender is gone.
    pub async fn run_delay_line(&self, mut rx: mpsc::UnboundedReceiver<Delayed>) {
        while let Some(d) = rx.recv().await {
            tokio::time::sleep_until(d.due).await;
            self.deliver_now(&d.tx, d.out, d.mode);
        }
    }

    pub fn registered_agents(&self) -> usize {
        self.lock().agents.len()
    }

    /// Registers `id` for connection `conn`; None if another connection holds it (first wins).
    pub fn register(&self, conn: u64, tx: &Tx, id: String, groups: Vec<String>) -> Option<Registration> {
        let mut inner = self.lock();
        if inner.agents.contains_key(id.as_str()) {
            return None;
        }
        let id: Box<str> = id.into();
        let id_json: Arc<str> = proto::quote(&id).into();
        inner.agents.insert(id.clone(), Agent { conn, tx: tx.clone(), id_json: id_json.clone() });
        let groups: Vec<Box<str>> = groups.into_iter().map(Into::into).collect();
        for g in &groups {
            let group = inner.groups.entry(g.clone()).or_insert_with(|| Group {
                name_json: proto::quote(g).into(),
                members: Vec::new(),
                cursor: 0,
            });
            group.members.push(Member { conn, tx: tx.clone(), id_json: id_json.clone() });
        }
        Some(Registration { id, id_json, groups })
    }

    /// Releases the registration's id and group memberships.
    pub fn unregister(&self, conn: u64, reg: &Registration) {
        let mut inner = self.lock();
        if inner.agents.get(&reg.id).is_some_and(|a| a.conn == conn) {
            inner.agents.remove(&reg.id);
        }
        for g in &reg.groups {
            let Some(group) = inner.groups.get_mut(g) else { continue };
            if let Some(i) = group.members.iter().position(|m| m.conn == conn) {
                group.members.remove(i);
                // Keep the cursor on the member that was next.
                if i < group.cursor {
                    group.cursor -= 1;
                }
                if group.cursor >= group.members.len() {
                    group.cursor = 0;
                }
            }
            if group.members.is_empty() {
                inner.groups.remove(g);
            }
        }
    }

    /// Direct message; false if nobody holds `to`.
    pub fn send(&self, from: &Registration, to: &str, carry: &Carry) -> bool {
        let (tx, to_json) = {
            let inner = self.lock();
            match inner.agents.get(to) {
                Some(a) => (a.tx.clone(), a.id_json.clone()),
                None => return false,
            }
        };
        let frame = proto::msg(Mode::Direct, &from.id_json, None, Some(&to_json), carry);
        self.deliver(&tx, Out::Own(frame), Mode::Direct);
        true
    }

    /// Delivers to every registered connection except the sender.
    pub fn broadcast(&self, conn: u64, from: &Registration, carry: &Carry) {
        let frame: Arc<str> = proto::msg(Mode::Broadcast, &from.id_json, None, None, carry).into();
        let inner = self.lock();
        for a in inner.agents.values().filter(|a| a.conn != conn) {
            self.deliver(&a.tx, Out::Shared(frame.clone()), Mode::Broadcast);
        }
    }

    /// Round-robin delivery to one member of `group` other than the sender; false if there is none.
    pub fn group(&self, conn: u64, from: &Registration, group: &str, carry: &Carry) -> bool {
        let (tx, to_json, group_json) = {
            let mut inner = self.lock();
            let Some(g) = inner.groups.get_mut(group) else { return false };
            let n = g.members.len();
            let Some(idx) = (0..n).map(|i| (g.cursor + i) % n).find(|&i| g.members[i].conn != conn) else {
                return false;
            };
            g.cursor = (idx + 1) % n;
            let m = &g.members[idx];
            (m.tx.clone(), m.id_json.clone(), g.name_json.clone())
        };
        let frame = proto::msg(Mode::Group, &from.id_json, Some(&group_json), Some(&to_json), carry);
        self.deliver(&tx, Out::Own(frame), Mode::Group);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(hub: &Hub, conn: u64, id: &str, groups: &[&str]) -> (Registration, Tx) {
        let tx = Queue::new(16);
        let reg = hub.register(conn, &tx, id.into(), groups.iter().map(|g| g.to_string()).collect()).unwrap();
        (reg, tx)
    }

    fn drain(rx: &mut Tx) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(o) = rx.try_pop() {
            v.push(o.into_string());
        }
        v
    }

    #[test]
    fn round_robin_skips_sender_and_survives_leaves() {
        let hub = Hub::default();
        let (a, mut ra) = member(&hub, 1, "a", &["g"]);
        let (b, mut rb) = member(&hub, 2, "b", &["g"]);
        let (_c, mut rc) = member(&hub, 3, "c", &["g"]);
        let (x, _rx) = member(&hub, 4, "x", &[]);
        for _ in 0..6 {
            assert!(hub.group(4, &x, "g", &Carry::default()));
        }
        assert_eq!((drain(&mut ra).len(), drain(&mut rb).len(), drain(&mut rc).len()), (2, 2, 2));
        // a sends: a is skipped, b and c alternate.
        for _ in 0..4 {
            assert!(hub.group(1, &a, "g", &Carry::default()));
        }
        assert_eq!((drain(&mut ra).len(), drain(&mut rb).len(), drain(&mut rc).len()), (0, 2, 2));
        hub.unregister(2, &b);
        for _ in 0..4 {
            assert!(hub.group(4, &x, "g", &Carry::default()));
        }
        assert_eq!((drain(&mut ra).len(), drain(&mut rb).len(), drain(&mut rc).len()), (2, 0, 2));
        assert!(!hub.group(4, &x, "nope", &Carry::default()));
    }

    #[test]
    fn duplicate_id_first_wins_and_release() {
        let hub = Hub::default();
        let (a, _ra) = member(&hub, 1, "a", &["solo"]);
        let tx = Queue::new(1);
        assert!(hub.register(2, &tx, "a".into(), vec![]).is_none());
        assert!(!hub.group(1, &a, "solo", &Carry::default()), "only the sender is in the group");
        hub.unregister(1, &a);
        assert_eq!(hub.registered_agents(), 0);
        assert!(hub.register(2, &tx, "a".into(), vec![]).is_some());
    }

    #[test]
    fn planted_drop_is_exact() {
        let (hub, rx) = Hub::with_plant(0, 4);
        assert!(rx.is_none());
        let (a, _) = member(&hub, 1, "a", &[]);
        let (_b, mut b_rx) = member(&hub, 2, "b", &[]);
        let mut got = 0;
        for _ in 0..100 {
            assert!(hub.send(&a, "b", &Carry::default()));
            got += drain(&mut b_rx).len(); // the test queue holds 16
        }
        assert_eq!(got, 75);
        assert_eq!(hub.metrics.dropped_planted.load(Relaxed), 25);
        assert_eq!(hub.metrics.dropped_slow_consumer.load(Relaxed), 0);
    }

    #[test]
    fn planted_delay_holds_and_keeps_order() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (hub, rx) = Hub::with_plant(40, 0);
            let hub = Arc::new(hub);
            let line = tokio::spawn({
                let hub = hub.clone();
                async move { hub.run_delay_line(rx.unwrap()).await }
            });
            let (a, _) = member(&hub, 1, "a", &[]);
            let (_b, mut b_rx) = member(&hub, 2, "b", &[]);
            let sent = Instant::now();
            for i in 0..12 {
                let seq = i.to_string();
                let carry = Carry { seq: Some(&seq), ..Carry::default() };
                assert!(hub.send(&a, "b", &carry));
            }
            assert!(drain(&mut b_rx).is_empty(), "delivered before the planted delay");
            let mut got = Vec::new();
            while got.len() < 12 {
                b_rx.notified().await;
                got.extend(drain(&mut b_rx));
            }
            assert!(sent.elapsed() >= Duration::from_millis(40));
            for (i, f) in got.iter().enumerate() {
                let v: serde_json::Value = serde_json::from_str(f).unwrap();
                assert_eq!(v["seq"], i, "frame {i} out of order: {f}");
            }
            line.abort();
        });
    }

    #[test]
    fn full_queue_drops_newest() {
        let hub = Hub::default();
        let (a, _ra) = member(&hub, 1, "a", &[]);
        let mut rx = Queue::new(2);
        let tx = rx.clone();
        hub.register(2, &tx, "b".into(), vec![]).unwrap();
        for seq in ["1", "2", "3"] {
            assert!(hub.send(&a, "b", &Carry { seq: Some(seq), ..Carry::default() }));
        }
        let got = drain(&mut rx);
        assert_eq!(got.len(), 2);
        assert!(got[1].contains("\"seq\":2"));
        assert_eq!(hub.metrics.dropped_slow_consumer.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(!hub.send(&a, "nobody", &Carry::default()));
    }
}
