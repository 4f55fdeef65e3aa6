//! Choosing a group member for a message: pure functions over what each
//! member shows (up or not, for how long, its round trip, its load).

use std::time::{Duration, Instant};

use crate::EndpointHandle;

/// How a group chooses the member a message goes to. Only members that are
/// up (Connected or Authenticated) are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Strategy {
    /// Each message to the next member in turn.
    RoundRobin,
    /// The lighter of two members picked at random ("power of two
    /// choices"): cost = (round trip in microseconds + 1) x (load + 1),
    /// the round trip being a moving average of heartbeat round trips (a
    /// member not measured yet counts as the mean of those measured) and
    /// the load the sends in flight through handles plus the messages
    /// waiting in the member's outbox and push queue.
    LeastLoaded,
    /// The first member in priority order (the group's list order) that
    /// is up. After a failover, traffic goes back to a higher-priority
    /// member only once it has been up for `hysteresis`, so a flapping
    /// primary does not drag traffic back and forth.
    Failover {
        /// How long a returning member must stay up before it is chosen
        /// again.
        hysteresis: Duration,
    },
}

impl Default for Strategy {
    /// Round robin.
    fn default() -> Self {
        Self::RoundRobin
    }
}

/// Members a router looks at without allocating.
const ON_STACK: usize = 16;

/// Calls `f` with what each member shows the router: `now` for up times
/// (without it, every member up counts as up for no time: only failover
/// needs them); members `excluded` says yes to count as down.
pub(super) fn with_candidates<T>(
    members: &[EndpointHandle],
    now: Option<Instant>,
    excluded: impl Fn(&EndpointHandle) -> bool,
    f: impl FnOnce(&[Candidate]) -> T,
) -> T {
    let candidate = |m: &EndpointHandle| {
        let vitals = m.vitals();
        let up_for = match now {
            Some(now) => vitals.up_for(now),
            None => vitals.state().is_up().then_some(Duration::ZERO),
        };
        Candidate {
            up_for: up_for.filter(|_| !excluded(m)),
            rtt: vitals.rtt(),
            load: m.load(),
        }
    };
    if members.len() <= ON_STACK {
        let mut stack = [Candidate::default(); ON_STACK];
        for (slot, m) in stack.iter_mut().zip(members) {
            *slot = candidate(m);
        }
        f(&stack[..members.len()])
    } else {
        let heap: Vec<Candidate> = members.iter().map(candidate).collect();
        f(&heap)
    }
}

/// What a member shows the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Candidate {
    /// How long it has been up; `None` when it is not.
    pub(crate) up_for: Option<Duration>,
    /// Its moving-average round trip, if measured.
    pub(crate) rtt: Option<Duration>,
    /// Sends in flight and messages queued.
    pub(crate) load: usize,
}

impl Candidate {
    fn is_up(&self) -> bool {
        self.up_for.is_some()
    }

    /// The cost least-loaded weighs, counting `unmeasured` for a round
    /// trip not measured yet.
    fn cost(&self, unmeasured: u128) -> u128 {
        let rtt = self.rtt.map_or(unmeasured, |rtt| rtt.as_micros());
        (rtt + 1) * (self.load as u128 + 1)
    }
}

/// The member `strategy` chooses among `members`, or `None` when none is
/// up. `turn` is a number that differs from call to call (a counter):
/// round robin starts its search there, least-loaded draws its two picks
/// from it. `current` is the member failover chose last.
pub(crate) fn choose(
    strategy: Strategy,
    members: &[Candidate],
    turn: u64,
    current: Option<usize>,
) -> Option<usize> {
    let n = members.len();
    if n == 0 {
        return None;
    }
    match strategy {
        Strategy::RoundRobin => {
            let start = usize::try_from(turn % n as u64).unwrap_or(0);
            (0..n)
                .map(|step| (start + step) % n)
                .find(|&i| members[i].is_up())
        }
        Strategy::LeastLoaded => {
            let up = members.iter().filter(|m| m.is_up()).count();
            let (a, b) = match up {
                0 => return None,
                1 => return members.iter().position(Candidate::is_up),
                up => two_distinct(mix(turn), up),
            };
            let (a, b) = (nth_up(members, a), nth_up(members, b));
            let unmeasured = mean_rtt(members);
            Some(
                if members[b].cost(unmeasured) < members[a].cost(unmeasured) {
                    b
                } else {
                    a
                },
            )
        }
        Strategy::Failover { hysteresis } => members
            .iter()
            .enumerate()
            .find(|(i, m)| {
                m.up_for
                    .is_some_and(|up| up >= hysteresis || Some(*i) == current)
            })
            .map(|(i, _)| i)
            .or_else(|| members.iter().position(Candidate::is_up)),
    }
}

/// The index of the `nth` member up (counting from 0; there are more).
fn nth_up(members: &[Candidate], nth: usize) -> usize {
    members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.is_up())
        .nth(nth)
        .map_or(0, |(i, _)| i)
}

/// The mean round trip, in microseconds, of the members up that have one
/// (0 when none has).
fn mean_rtt(members: &[Candidate]) -> u128 {
    let (sum, n) = members
        .iter()
        .filter(|m| m.is_up())
        .filter_map(|m| m.rtt)
        .fold((0u128, 0u128), |(sum, n), rtt| {
            (sum + rtt.as_micros(), n + 1)
        });
    sum.checked_div(n).unwrap_or(0)
}

/// Two distinct indices below `len` (at least 2) drawn from `random`.
fn two_distinct(random: u64, len: usize) -> (usize, usize) {
    let first = usize::try_from(random % len as u64).unwrap_or(0);
    let step = usize::try_from((random >> 32) % (len as u64 - 1)).unwrap_or(0);
    (first, (first + 1 + step) % len)
}

/// SplitMix64's finaliser: spreads a counter's bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable 64-bit hash (FNV-1a, then mixed): the same on every machine and
/// build, so every instance ranks a key's members alike.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        hash ^= 0xFF;
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(hash)
}

/// Rendezvous (highest random weight) hashing: the member a `key` belongs
/// to is the one whose (key, member name) hash is highest. Returns the
/// preferred member and the member chosen: the highest-ranked one that is
/// up (`None` when none is). When a member goes or comes, only the keys it
/// ranks first for move.
pub(crate) fn rendezvous<'a>(
    key: &[u8],
    names: impl IntoIterator<Item = (&'a str, bool)>,
) -> (Option<usize>, Option<usize>) {
    let mut preferred: Option<(u64, usize)> = None;
    let mut chosen: Option<(u64, usize)> = None;
    for (i, (name, up)) in names.into_iter().enumerate() {
        let weight = stable_hash(&[key, name.as_bytes()]);
        if preferred.is_none_or(|(best, _)| weight > best) {
            preferred = Some((weight, i));
        }
        if up && chosen.is_none_or(|(best, _)| weight > best) {
            chosen = Some((weight, i));
        }
    }
    (preferred.map(|(_, i)| i), chosen.map(|(_, i)| i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(ms: u64) -> Candidate {
        Candidate {
            up_for: Some(Duration::from_millis(ms)),
            ..Candidate::default()
        }
    }

    fn down() -> Candidate {
        Candidate::default()
    }

    #[test]
    fn round_robin_takes_turns_among_members_that_are_up() {
        let members = [up(1), down(), up(1), up(1)];
        let chosen: Vec<_> = (0..8)
            .map(|turn| choose(Strategy::RoundRobin, &members, turn, None).unwrap())
            .collect();
        assert_eq!(chosen, [0, 2, 2, 3, 0, 2, 2, 3]);
        assert_eq!(
            choose(Strategy::RoundRobin, &[down(), down()], 5, None),
            None
        );
        assert_eq!(choose(Strategy::RoundRobin, &[], 5, None), None);
    }

    #[test]
    fn least_loaded_prefers_the_cheaper_of_two_and_never_a_member_that_is_down() {
        let mut members = [up(1), up(1), up(1), down()];
        members[0].load = 10;
        members[0].rtt = Some(Duration::from_micros(100));
        members[1].rtt = Some(Duration::from_millis(5));
        members[2].rtt = Some(Duration::from_micros(100));
        let mut counts = [0; 4];
        for turn in 0..3000 {
            counts[choose(Strategy::LeastLoaded, &members, turn, None).unwrap()] += 1;
        }
        assert_eq!(counts[3], 0, "down members are never chosen");
        // Member 2 is cheapest: it wins both of its pairs (2/3 of draws).
        assert!(counts[2] > 1800, "{counts:?}");
        // Member 0 (10 in flight: cost 101 x 11) beats member 1 (cost 5001).
        assert!(counts[0] > counts[1], "{counts:?}");
        let one = [down(), up(1)];
        assert_eq!(choose(Strategy::LeastLoaded, &one, 7, None), Some(1));
    }

    #[test]
    fn an_unmeasured_member_counts_as_the_mean_round_trip_not_as_free() {
        // Two measured at 1 ms, idle; one not measured yet with 3 sends in
        // flight: at the mean (1 ms) it costs 4x the others and loses
        // every pair it is in (with 0 for its round trip it would win).
        let mut members = [up(1), up(1), up(1)];
        members[0].rtt = Some(Duration::from_millis(1));
        members[1].rtt = Some(Duration::from_millis(1));
        members[2].load = 3;
        let mut counts = [0; 3];
        for turn in 0..300 {
            counts[choose(Strategy::LeastLoaded, &members, turn, None).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0, "{counts:?}");
        // None measured: load alone decides.
        members[0].rtt = None;
        members[1].rtt = None;
        members[0].load = 5;
        let mut counts = [0; 3];
        for turn in 0..300 {
            counts[choose(Strategy::LeastLoaded, &members, turn, None).unwrap()] += 1;
        }
        assert_eq!(counts[0], 0, "{counts:?}");
        assert!(counts[1] > counts[2], "{counts:?}");
    }

    #[test]
    fn two_distinct_picks_are_distinct_and_cover_every_pair() {
        let mut seen = std::collections::HashSet::new();
        for r in 0..10_000u64 {
            let (a, b) = two_distinct(mix(r), 4);
            assert!(a != b && a < 4 && b < 4);
            seen.insert((a, b));
        }
        assert_eq!(seen.len(), 12);
    }

    #[test]
    fn failover_goes_back_to_a_returning_primary_only_after_the_hysteresis() {
        let failover = Strategy::Failover {
            hysteresis: Duration::from_secs(2),
        };
        // Both up for long: the primary.
        assert_eq!(choose(failover, &[up(9000), up(9000)], 0, None), Some(0));
        // The primary is down: the backup.
        assert_eq!(choose(failover, &[down(), up(9000)], 0, Some(0)), Some(1));
        // The primary is back for 1 s: the backup stays.
        assert_eq!(choose(failover, &[up(1000), up(9000)], 0, Some(1)), Some(1));
        // Back for 2 s: the primary again.
        assert_eq!(choose(failover, &[up(2000), up(9000)], 0, Some(1)), Some(0));
        // Everyone just came up: the first one up, and it stays chosen.
        assert_eq!(
            choose(failover, &[down(), up(10), up(10)], 0, None),
            Some(1)
        );
        assert_eq!(
            choose(failover, &[up(10), up(20), up(10)], 0, Some(1)),
            Some(1)
        );
        assert_eq!(choose(failover, &[down(), down()], 0, Some(1)), None);
    }

    #[test]
    fn rendezvous_moves_only_the_keys_of_a_member_that_goes() {
        let names = ["a", "b", "c", "d"];
        let owner = |key: &str, up: &[bool]| {
            rendezvous(
                key.as_bytes(),
                names.iter().copied().zip(up.iter().copied()),
            )
        };
        let all = [true; 4];
        let without_b = [true, false, true, true];
        let mut per_member = [0; 4];
        let mut moved = 0;
        for k in 0..2000 {
            let key = format!("order-{k}");
            let (preferred, chosen) = owner(&key, &all);
            assert_eq!(preferred, chosen);
            per_member[chosen.unwrap()] += 1;
            let (preferred_after, after) = owner(&key, &without_b);
            assert_eq!(preferred_after, preferred, "preference ignores state");
            if chosen == Some(1) {
                assert_ne!(after, Some(1));
                moved += 1;
            } else {
                assert_eq!(after, chosen, "a key of another member stayed");
            }
        }
        assert_eq!(moved, per_member[1]);
        // Spread: each member owns roughly a quarter.
        assert!(
            per_member.iter().all(|n| (350..650).contains(n)),
            "{per_member:?}"
        );
        assert_eq!(owner("k", &[false; 4]).1, None);
        // Stable: the same ranking on every run and build.
        assert_eq!(
            stable_hash(&[b"key", b"member"]),
            stable_hash(&[b"key", b"member"])
        );
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
    }
}
