//! Concurrent reads share round trips ("group commit"). Up to
//! [`ON_THE_WIRE`] reads go to Redis as they come, each its own `GET`, as
//! hand-written code sends them. Reads that arrive while that many are out
//! queue up, and leave together as one `MGET` as soon as one of those comes
//! back (a read alone in the queue then sends its own `GET`). Alone or
//! lightly loaded, a read is sent at once and waits for nothing; under
//! load, one request carries many keys, which costs Redis and redis-rs less
//! per key than a `GET` each. Reads that need the key's time left (`GET` +
//! `PTTL`) join the same batch: their `PTTL`s ride in its pipeline.
//!
//! A queued read waits at most the operation timeout for its answer. The
//! `MGET` is sent by a task of its own, so a caller that gives up (a
//! timeout, a cancelled call) never strands the reads queued with it; a
//! batch whose task never runs (its runtime shut down) still gives its
//! place back; and a queued read whose batch could not be sent at all sends
//! its own `GET`.
//!
//! Single server only: on a cluster, an `MGET`'s keys would span slots.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::Value;
use tokio::sync::oneshot;

use crate::store::ops::{command, Request};
use crate::Error;

/// Reads sent one by one before others queue for a batch: up to this many
/// callers see no difference from hand-written `GET`s; past it, batches.
/// A queued read costs a channel, a timer and a hop through the batch's
/// task, which only a batch of several keys pays back: at 4, 8 to 16
/// callers made batches of two or three and ran at 0.6-0.8 of
/// hand-written code; at 8 they run at 0.75-0.92, and 64 and 256 callers
/// as at 4 (measured with `hit_costs compare`). At 16 or 32, 64 and 256
/// callers spent 5-20 % more client CPU per read (`hit_costs spin`).
const ON_THE_WIRE: usize = 8;

/// What batched reads need of the store they read for: written against
/// this, not the Redis store itself, which holds them.
pub(crate) trait Wire: Send + Sync + Sized + 'static {
    /// The store's batched reads.
    fn reads(&self) -> &Reads<Self>;
    /// Sends `request` on the shared connection (under the breaker and the
    /// operation timeout) and returns the reply unread.
    fn send(&self, request: &Request) -> impl Future<Output = Result<Value, Error>> + Send;
    /// How long a queued read waits for its batch.
    fn op_timeout(&self) -> Duration;
}

pub(crate) struct Reads<S: Wire> {
    queue: Mutex<Queue<S>>,
}

impl<S: Wire> Default for Reads<S> {
    fn default() -> Self {
        Reads {
            queue: Mutex::new(Queue {
                out: 0,
                keys: Vec::new(),
                waiting: Vec::new(),
            }),
        }
    }
}

struct Queue<S: Wire> {
    /// Requests on the wire: single reads and batches.
    out: usize,
    keys: Vec<String>,
    waiting: Vec<Waiter<S>>,
}

/// A queued read: where its answer goes, and whether it wants the key's
/// time left (`PTTL`) with the value.
struct Waiter<S: Wire> {
    ttl: bool,
    answer: oneshot::Sender<Told<S>>,
}

/// What a queued read is told.
enum Told<S: Wire> {
    /// Its value, from its batch's `MGET` (or the batch's failure).
    Reply(Result<Value, Error>),
    /// It was alone in the queue: a place is free for its own request.
    Go(Place<S>),
}

impl<S: Wire> Reads<S> {
    /// The reply to a read of `key` (`GET`, with `PTTL` when `ttl`): sent
    /// now as `request()` if few reads are out, else in the next batch,
    /// where it is shaped as `request()`'s reply would be.
    pub(crate) async fn read(
        &self,
        store: &Arc<S>,
        key: &str,
        ttl: bool,
        request: impl Fn() -> Request,
    ) -> Result<Value, Error> {
        let queued = {
            let mut queue = self.lock();
            if queue.out < ON_THE_WIRE {
                queue.out += 1;
                None
            } else {
                let (answer, receiver) = oneshot::channel();
                queue.keys.push(key.to_owned());
                queue.waiting.push(Waiter { ttl, answer });
                Some(receiver)
            }
        };
        match queued {
            None => {
                let _out = Out(store);
                store.send(&request()).await
            }
            Some(answer) => {
                let answer = async {
                    match answer.await {
                        Ok(Told::Reply(reply)) => reply,
                        Ok(Told::Go(_place)) => store.send(&request()).await,
                        // No answer from a batch (not sent for want of a
                        // runtime, or a reply of another shape): a read of
                        // its own.
                        Err(_) => store.send(&request()).await,
                    }
                };
                match tokio::time::timeout(store.op_timeout(), answer).await {
                    Ok(reply) => reply,
                    Err(_) => Err(Error::Timeout(store.op_timeout())),
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<S>> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A caller's own read on the wire. When it comes back (or the call is
/// dropped), the reads queued meanwhile leave as one batch, which takes
/// over its place.
struct Out<'a, S: Wire>(&'a Arc<S>);

impl<S: Wire> Drop for Out<'_, S> {
    fn drop(&mut self) {
        hand_over(self.0);
    }
}

/// A place on the wire given to a batch's task or to a lone queued read;
/// handed over in turn when its request returns, or when it is dropped
/// unused (a task dropped unrun as its runtime shut down, a read cancelled
/// before it could go).
struct Place<S: Wire>(Arc<S>);

impl<S: Wire> Drop for Place<S> {
    fn drop(&mut self) {
        hand_over(&self.0);
    }
}

/// Gives a place on the wire to the reads queued for it: to a lone one for
/// its own `GET` (no task, no `MGET`: the cost of a direct read), to
/// several as one batch sent by a task of its own; with none queued, frees
/// it.
fn hand_over<S: Wire>(store: &Arc<S>) {
    let mut queue = store.reads().lock();
    match queue.keys.len() {
        0 => queue.out -= 1,
        1 => {
            queue.keys.clear();
            let alone = queue.waiting.pop().expect("a waiter per key");
            drop(queue);
            // A read cancelled meanwhile drops the place: handed over again.
            let _ = alone.answer.send(Told::Go(Place(store.clone())));
        }
        _ => {
            let keys = std::mem::take(&mut queue.keys);
            let waiting = std::mem::take(&mut queue.waiting);
            drop(queue);
            send_batch(store, keys, waiting);
        }
    }
}

fn send_batch<S: Wire>(store: &Arc<S>, keys: Vec<String>, waiting: Vec<Waiter<S>>) {
    // Made before the task, so that a task dropped unrun frees it too.
    let place = Place(store.clone());
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Dropped outside a runtime: the waiters send their own.
        return;
    };
    runtime.spawn(async move {
        let batch = Batch::new(keys, &waiting);
        let reply = place.0.send(&batch.request()).await;
        drop(place);
        batch.answer(waiting, reply);
    });
}

/// A batch's keys, each once: the readers of a hot key share one copy of
/// its value on the wire (a key per reader sent a large value once per
/// reader, and held the connection that much longer).
struct Batch {
    keys: Vec<String>,
    /// Each waiter's key, as an index into `keys`.
    of: Vec<usize>,
    /// Per key: the index of its `PTTL` among the replies, when a reader
    /// wants its time left.
    pttl: Vec<Option<usize>>,
}

impl Batch {
    fn new<S: Wire>(keys: Vec<String>, waiting: &[Waiter<S>]) -> Self {
        let mut of = Vec::with_capacity(keys.len());
        let mut first = Vec::with_capacity(keys.len());
        let mut pttl = Vec::with_capacity(keys.len());
        let mut pttls = 0;
        let mut index = std::collections::HashMap::with_capacity(keys.len());
        for (key, waiter) in keys.iter().zip(waiting) {
            let unique = index.len();
            let at = *index.entry(key.as_str()).or_insert(unique);
            first.push(at == unique);
            if at == unique {
                pttl.push(None);
            }
            if waiter.ttl && pttl[at].is_none() {
                pttl[at] = Some(pttls);
                pttls += 1;
            }
            of.push(at);
        }
        drop(index);
        // The keys themselves move into the batch, first occurrences only.
        let keys = keys
            .into_iter()
            .zip(first)
            .filter_map(|(key, first)| first.then_some(key))
            .collect();
        Batch { keys, of, pttl }
    }

    /// `MGET` of every key; then, in the same pipeline, `PTTL` of each key
    /// whose reader wants its time left.
    fn request(&self) -> Request {
        let mget = command("MGET", &self.keys);
        if self.pttl.iter().all(Option::is_none) {
            return Request::Cmd(mget);
        }
        let mut pipe = redis::pipe();
        pipe.add_command(mget);
        for (key, _) in self
            .keys
            .iter()
            .zip(&self.pttl)
            .filter(|(_, at)| at.is_some())
        {
            pipe.cmd("PTTL").arg(key);
        }
        Request::Batch(pipe)
    }

    /// Gives each waiter its value from the reply (with its `PTTL`, as
    /// `[value, pttl]`, when it asked for it), or the batch's error.
    fn answer<S: Wire>(&self, waiting: Vec<Waiter<S>>, reply: Result<Value, Error>) {
        let any_ttl = self.pttl.iter().any(Option::is_some);
        let (values, ttls) = match reply {
            Ok(Value::Array(values)) if !any_ttl => (values, Vec::new()),
            Ok(Value::Array(mut replies)) if !replies.is_empty() => {
                let ttls = replies.split_off(1);
                match replies.pop() {
                    Some(Value::Array(values)) => (values, ttls),
                    // Not an answer to the batch: each waiter sends its own.
                    _ => return,
                }
            }
            Ok(_) => return,
            Err(error) => {
                for waiter in waiting {
                    let _ = waiter.answer.send(Told::Reply(Err(error.again())));
                }
                return;
            }
        };
        if values.len() != self.keys.len() {
            return;
        }
        // Each value moves to the last reader of its key, and is cloned
        // only for the others (most keys have one).
        let mut readers = vec![0usize; values.len()];
        for at in &self.of {
            readers[*at] += 1;
        }
        let mut values: Vec<Option<Value>> = values.into_iter().map(Some).collect();
        for (waiter, at) in waiting.into_iter().zip(&self.of) {
            readers[*at] -= 1;
            let value = match readers[*at] {
                0 => values[*at].take(),
                _ => values[*at].clone(),
            };
            let Some(value) = value else { continue };
            let value = match waiter.ttl {
                true => match self.pttl[*at].and_then(|pttl| ttls.get(pttl)) {
                    Some(ttl) => Value::Array(vec![value, ttl.clone()]),
                    None => continue,
                },
                false => value,
            };
            let _ = waiter.answer.send(Told::Reply(Ok(value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redis::RedisStore;

    fn waiter(ttl: bool) -> (Waiter<RedisStore>, oneshot::Receiver<Told<RedisStore>>) {
        let (answer, receiver) = oneshot::channel();
        (Waiter { ttl, answer }, receiver)
    }

    fn value(receiver: &mut oneshot::Receiver<Told<RedisStore>>) -> Value {
        match receiver.try_recv() {
            Ok(Told::Reply(Ok(value))) => value,
            _ => panic!("no value"),
        }
    }

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn a_hot_key_goes_once_and_every_reader_gets_it() {
        let keys = ["hot", "cold", "hot", "hot"].map(str::to_owned).to_vec();
        let (waiters, mut receivers): (Vec<_>, Vec<_>) =
            [false, true, true, false].into_iter().map(waiter).unzip();
        let batch = Batch::new(keys, &waiters);
        assert_eq!(batch.keys, ["hot", "cold"]);
        assert_eq!(batch.of, [0, 1, 0, 0]);
        assert_eq!(batch.pttl, [Some(1), Some(0)]);
        let Request::Batch(pipe) = batch.request() else {
            panic!("a pipeline: MGET, then a PTTL per key")
        };
        assert_eq!(pipe.cmd_iter().count(), 3);

        let reply = Value::Array(vec![
            Value::Array(vec![bulk("h"), bulk("c")]),
            Value::Int(5000), // PTTL cold
            Value::Int(9000), // PTTL hot
        ]);
        batch.answer(waiters, Ok(reply));
        assert_eq!(value(&mut receivers[0]), bulk("h"));
        assert_eq!(
            value(&mut receivers[1]),
            Value::Array(vec![bulk("c"), Value::Int(5000)])
        );
        assert_eq!(
            value(&mut receivers[2]),
            Value::Array(vec![bulk("h"), Value::Int(9000)])
        );
        assert_eq!(value(&mut receivers[3]), bulk("h"));
    }
}
