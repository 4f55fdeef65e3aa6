//! Who should hold which endpoint, and what one instance does about it:
//! pure functions over what etcd and the local supervisor show.

use std::collections::{BTreeMap, BTreeSet};

use crate::group::rendezvous;

/// An endpoint's owner key as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The member that holds it.
    pub(crate) owner: String,
    /// The revision that created the key: the ownership epoch.
    pub(crate) epoch: i64,
    /// The lease the key is bound to.
    pub(crate) lease: i64,
}

/// One step for this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nobody holds it and this instance should: claim it.
    Claim(String),
    /// This instance's claim stands (at `epoch`) but it does not run the
    /// endpoint: start it.
    Start(String, i64),
    /// This instance holds it but should not (another member is preferred
    /// now, or the endpoint is no longer wanted): stop it, then give the
    /// claim at `epoch` up.
    Release(String, i64),
    /// It runs here without a claim of this instance's (the claim was
    /// lost): stop it.
    Stop(String),
    /// This instance cannot hold it: say so (a refusal key bound to its
    /// lease), so the next best member is chosen for it.
    Refuse(String),
    /// This instance can hold it again: delete its refusal.
    TakeBack(String),
}

/// Endpoint → the members that cannot hold it (their builder cannot make
/// its config, or their supervisor refused it).
pub(crate) type Refusals = BTreeMap<String, BTreeSet<String>>;

/// The member an endpoint belongs to among `members`: rendezvous hashing,
/// so a member joining or leaving moves only the endpoints it ranks first
/// for (about 1/N of them). Members that refused it are passed over.
pub(crate) fn preferred<'a>(
    endpoint: &str,
    members: &'a BTreeSet<String>,
    refusals: &Refusals,
) -> Option<&'a str> {
    let refused = refusals.get(endpoint);
    let eligible = |m: &String| refused.is_none_or(|refused| !refused.contains(m));
    let (_, chosen) = rendezvous(
        endpoint.as_bytes(),
        members.iter().map(|m| (m.as_str(), eligible(m))),
    );
    members.iter().nth(chosen?).map(String::as_str)
}

/// What this instance (`me`, holding `lease`) should do, given the live
/// `members`, the endpoints `wanted` (those it can hold), every owner key
/// in `claims`, who refused what, and the endpoints it `runs` with the
/// epoch it started them at.
pub(crate) fn plan(
    me: &str,
    lease: i64,
    members: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
    claims: &BTreeMap<String, Claim>,
    refusals: &Refusals,
    runs: &BTreeMap<String, i64>,
) -> Vec<Step> {
    let preferred = |endpoint: &str| preferred(endpoint, members, refusals);
    let mine = |claim: &Claim| claim.owner == me && claim.lease == lease;
    let mut steps = Vec::new();
    for (endpoint, epoch) in runs {
        match claims.get(endpoint) {
            Some(claim) if mine(claim) && claim.epoch == *epoch => {}
            _ => steps.push(Step::Stop(endpoint.clone())),
        }
    }
    for (endpoint, claim) in claims.iter().filter(|(_, claim)| mine(claim)) {
        let keep = wanted.contains(endpoint) && preferred(endpoint) == Some(me);
        if !keep {
            steps.push(Step::Release(endpoint.clone(), claim.epoch));
        } else if runs.get(endpoint) != Some(&claim.epoch) {
            steps.push(Step::Start(endpoint.clone(), claim.epoch));
        }
    }
    // Claims only while this instance counts itself a member: a lost
    // lease (or one not visible yet) claims nothing.
    if members.contains(me) {
        for endpoint in wanted {
            if !claims.contains_key(endpoint) && preferred(endpoint) == Some(me) {
                steps.push(Step::Claim(endpoint.clone()));
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_member_joining_takes_about_its_share() {
        let three = set(&["a", "b", "c"]);
        let four = set(&["a", "b", "c", "d"]);
        let none = Refusals::new();
        let endpoints: Vec<String> = (0..3000).map(|i| format!("feed-{i}")).collect();
        let moved = endpoints
            .iter()
            .filter(|e| preferred(e, &three, &none) != preferred(e, &four, &none))
            .count();
        // Ideal: 1/4 (750); every move goes to the new member.
        assert!((600..900).contains(&moved), "{moved}");
        assert!(endpoints
            .iter()
            .filter(|e| preferred(e, &three, &none) != preferred(e, &four, &none))
            .all(|e| preferred(e, &four, &none) == Some("d")));
        let mut counts = BTreeMap::new();
        for e in &endpoints {
            *counts
                .entry(preferred(e, &three, &none).unwrap())
                .or_insert(0) += 1;
        }
        assert!(
            counts.values().all(|n| (850..1150).contains(n)),
            "{counts:?}"
        );
        assert_eq!(preferred("x", &BTreeSet::new(), &none), None);
    }

    #[test]
    fn plans_claim_start_release_and_stop() {
        let members = set(&["a", "b"]);
        let none = Refusals::new();
        let wanted: BTreeSet<String> = (0..40).map(|i| format!("e{i}")).collect();
        let ours: Vec<&String> = wanted
            .iter()
            .filter(|e| preferred(e, &members, &none) == Some("a"))
            .collect();
        let theirs: Vec<&String> = wanted
            .iter()
            .filter(|e| preferred(e, &members, &none) == Some("b"))
            .collect();
        assert!(!ours.is_empty() && !theirs.is_empty());
        let claim = |owner: &str, epoch, lease| Claim {
            owner: owner.into(),
            epoch,
            lease,
        };
        // Nothing claimed: "a" claims exactly its own.
        let steps = plan(
            "a",
            7,
            &members,
            &wanted,
            &BTreeMap::new(),
            &none,
            &BTreeMap::new(),
        );
        let claimed: Vec<Step> = ours.iter().map(|e| Step::Claim((*e).clone())).collect();
        assert_eq!(steps, claimed);
        // Its claim stands: start at that epoch; once running: nothing.
        let mut claims = BTreeMap::from([(ours[0].clone(), claim("a", 11, 7))]);
        let mut runs = BTreeMap::new();
        let steps = plan("a", 7, &members, &wanted, &claims, &none, &runs);
        assert!(steps.contains(&Step::Start(ours[0].clone(), 11)));
        runs.insert(ours[0].clone(), 11);
        let steps = plan("a", 7, &members, &wanted, &claims, &none, &runs);
        assert!(!steps
            .iter()
            .any(|s| matches!(s, Step::Start(..) | Step::Stop(_))));
        // Holding one that "b" should have: release it.
        claims.insert(theirs[0].clone(), claim("a", 12, 7));
        let steps = plan("a", 7, &members, &wanted, &claims, &none, &runs);
        assert!(steps.contains(&Step::Release(theirs[0].clone(), 12)));
        // A claim under an old lease is not ours: what runs on it stops,
        // and nothing is claimed while "a" is not a member.
        let alone = set(&["b"]);
        let steps = plan("a", 8, &alone, &wanted, &claims, &none, &runs);
        assert_eq!(steps, [Step::Stop(ours[0].clone())]);
    }

    #[test]
    fn an_endpoint_goes_to_the_best_member_that_did_not_refuse_it() {
        let members = set(&["a", "b", "c"]);
        let none = Refusals::new();
        let endpoint = (0..100)
            .map(|i| format!("e{i}"))
            .find(|e| preferred(e, &members, &none) == Some("a"))
            .unwrap();
        let refusals = Refusals::from([(endpoint.clone(), set(&["a"]))]);
        let next = preferred(&endpoint, &members, &refusals).unwrap();
        assert_ne!(next, "a");
        let wanted = set(&[&endpoint]);
        let claims = BTreeMap::new();
        let runs = BTreeMap::new();
        // "a" cannot hold it (not wanted there) and the next member claims it.
        assert!(plan(
            "a",
            1,
            &members,
            &BTreeSet::new(),
            &claims,
            &refusals,
            &runs
        )
        .is_empty());
        let steps = plan(next, 1, &members, &wanted, &claims, &refusals, &runs);
        assert_eq!(steps, [Step::Claim(endpoint.clone())]);
        // Refused by all: nobody is chosen.
        let all = Refusals::from([(endpoint.clone(), members.clone())]);
        assert_eq!(preferred(&endpoint, &members, &all), None);
    }
}
