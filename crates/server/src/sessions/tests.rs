//! Unit tests for the session registry: limits, reservations, forgetting.

use std::sync::Arc;
use std::time::Duration;

use auth::{Principal, PrincipalSource, Scopes};

use super::*;

fn owner(subject: &str) -> Owner {
    Owner::of(&Principal {
        issuer: "https://idp".to_owned(),
        subject: Some(subject.to_owned()),
        client_id: None,
        scopes: Scopes::default(),
        audience: vec![],
        expires_at: 0,
        source: PrincipalSource::Jwt,
    })
    .expect("a subject owns")
}

fn registry(max_per_owner: usize, max_total: usize) -> Arc<Sessions> {
    Arc::new(Sessions::new(SessionLimits {
        max_per_owner,
        max_total,
        idle_timeout: Duration::from_secs(60),
    }))
}

#[test]
fn the_per_owner_limit_refuses_only_that_owner() {
    let sessions = registry(2, 10);
    sessions.reserve(owner("a")).expect("1st").bind("s1".into());
    sessions.reserve(owner("a")).expect("2nd").bind("s2".into());
    assert_eq!(sessions.reserve(owner("a")).unwrap_err(), Full::Owner);
    sessions
        .reserve(owner("b"))
        .expect("b is not a")
        .bind("s3".into());
    assert_eq!(sessions.len(), 3, "a refusal takes no slot");
}

#[test]
fn the_total_limit_refuses_everyone() {
    let sessions = registry(5, 2);
    sessions.reserve(owner("a")).expect("1st").bind("s1".into());
    sessions.reserve(owner("b")).expect("2nd").bind("s2".into());
    assert_eq!(sessions.reserve(owner("c")).unwrap_err(), Full::Total);
    assert_eq!(sessions.len(), 2);
}

#[test]
fn a_dropped_reservation_frees_its_slot() {
    let sessions = registry(1, 10);
    let reservation = sessions.reserve(owner("a")).expect("free");
    assert_eq!(sessions.reserve(owner("a")).unwrap_err(), Full::Owner);
    drop(reservation);
    assert!(sessions.is_empty());
    sessions
        .reserve(owner("a"))
        .expect("free again")
        .bind("s1".into());
}

#[test]
fn forgetting_a_session_frees_its_slot_once() {
    let sessions = registry(1, 10);
    sessions
        .reserve(owner("a"))
        .expect("free")
        .bind("s1".into());
    assert_eq!(
        sessions.owned_by("s1", |o| *o == owner("a")),
        Ownership::Owned
    );
    assert_eq!(
        sessions.owned_by("s1", |o| *o == owner("b")),
        Ownership::Foreign
    );
    sessions.forget("s1");
    // rmcp closes a deleted session again when its worker ends.
    sessions.forget("s1");
    assert!(sessions.is_empty());
    assert_eq!(sessions.owned_by("s1", |_| true), Ownership::Unknown);
    sessions
        .reserve(owner("a"))
        .expect("the slot is free")
        .bind("s2".into());
    assert_eq!(sessions.len(), 1);
}

#[test]
fn concurrent_reservations_never_overshoot_the_limits() {
    let sessions = registry(50, 80);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let sessions = Arc::clone(&sessions);
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                for i in 0..40 {
                    let who = owner(if i % 2 == 0 { "a" } else { "b" });
                    if let Ok(r) = sessions.reserve(who) {
                        kept.push(r);
                    }
                    if i % 7 == 0 {
                        kept.pop();
                    }
                }
                let n = kept.len();
                for (i, r) in kept.into_iter().enumerate() {
                    r.bind(format!("t{t}-{i}").into());
                }
                n
            })
        })
        .collect();
    let held: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(sessions.len(), held);
    assert!(held <= 80, "{held} sessions past a limit of 80");
    let a = (0..8)
        .flat_map(|t| (0..40).map(move |i| format!("t{t}-{i}")))
        .filter(|id| sessions.owned_by(id, |o| *o == owner("a")) == Ownership::Owned)
        .count();
    assert!(a <= 50, "{a} sessions for one owner past a limit of 50");
}

#[test]
fn adopting_one_session_twice_holds_one_slot() {
    let sessions = registry(5, 10);
    sessions.adopt("s1".into(), owner("a")).expect("first");
    // Two requests of one client adopting the session at once.
    sessions.adopt("s1".into(), owner("a")).expect("second");
    assert_eq!(sessions.len(), 1);
    sessions.forget("s1");
    assert!(sessions.is_empty(), "forgetting frees the one slot");
}

#[test]
fn a_recheck_is_claimed_once_per_period() {
    let sessions = registry(5, 10);
    assert!(
        !sessions.claim_recheck("s1", Duration::ZERO),
        "an unknown session is not rechecked"
    );
    sessions
        .reserve(owner("a"))
        .expect("free")
        .bind("s1".into());
    assert!(
        !sessions.claim_recheck("s1", Duration::from_secs(3600)),
        "just bound: just checked"
    );
    assert!(sessions.claim_recheck("s1", Duration::ZERO));
    std::thread::sleep(Duration::from_millis(5));
    let claims = (0..8)
        .map(|_| sessions.claim_recheck("s1", Duration::from_millis(1)))
        .filter(|&claimed| claimed)
        .count();
    assert_eq!(claims, 1, "one caller per period");
}
