// SPDX-License-Identifier: AGPL-3.0-or-later
//! Host tests of the capability table: filling and emptying, rights checks, derivation never
//! escalating, revocation taking effect at once, and a full table.

use std::vec::Vec;

use super::*;

const SR: Rights = Rights::SEND.union(Rights::RECEIVE);

/// Every combination of rights.
fn all_rights() -> impl Iterator<Item = Rights> {
    (0..=Rights::ALL.bits()).map(|b| Rights::from_bits(b).unwrap())
}

/// Endpoint `id` exists with epoch `id * 10` (endpoint 99 is gone).
fn epochs(id: u32) -> Option<u32> {
    if id == 99 { None } else { Some(id * 10) }
}

#[test]
fn fill_and_empty() {
    let mut t = CapTable::new();
    assert!(t.is_empty());
    assert_eq!(t.capacity(), CAP_SLOTS);
    for i in 0..CAP_SLOTS as u32 {
        assert_eq!(t.insert(Capability::new(i, 0, Rights::SEND)), Ok(i));
    }
    assert_eq!(t.len(), CAP_SLOTS);
    assert_eq!(t.insert(Capability::new(7, 0, Rights::ALL)), Err(CapError::TableFull));
    // The lowest free slot is reused.
    assert_eq!(t.remove(5).unwrap().endpoint.id, 5);
    assert_eq!(t.remove(40).unwrap().endpoint.id, 40);
    assert_eq!(t.remove(5), Err(CapError::Empty));
    assert_eq!(t.insert(Capability::new(500, 0, Rights::ALL)), Ok(5));
    assert_eq!(t.insert(Capability::new(400, 0, Rights::ALL)), Ok(40));
    assert_eq!(t.get(5).unwrap().endpoint.id, 500);
    let listed: Vec<(u32, Capability)> = t.iter().collect();
    assert_eq!(listed.len(), CAP_SLOTS);
    assert!(listed.windows(2).all(|w| w[0].0 < w[1].0));
    for slot in 0..CAP_SLOTS as u32 {
        t.remove(slot).unwrap();
    }
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    assert_eq!(t.iter().count(), 0);
}

#[test]
fn out_of_range_slots_are_empty() {
    let mut t = CapTable::new();
    t.insert(Capability::new(1, 10, Rights::ALL)).unwrap();
    for slot in [CAP_SLOTS as u32, CAP_SLOTS as u32 + 1, u32::MAX, 1] {
        assert_eq!(t.get(slot), None);
        assert_eq!(t.check(slot, Rights::NONE, epochs), Err(CapError::Empty));
        assert_eq!(t.derive(slot, Rights::NONE), Err(CapError::Empty));
        assert_eq!(t.remove(slot), Err(CapError::Empty));
    }
    assert_eq!(t.len(), 1);
}

#[test]
fn rights_checks() {
    let mut t = CapTable::new();
    for r in all_rights() {
        let slot = t.insert(Capability::new(3, 30, r)).unwrap();
        for needed in all_rights() {
            let got = t.check(slot, needed, epochs);
            if r.contains(needed) {
                assert_eq!(got, Ok(EndpointRef { id: 3, epoch: 30 }));
            } else {
                assert_eq!(got, Err(CapError::MissingRight), "{r:?} needs {needed:?}");
            }
        }
    }
}

#[test]
fn derive_never_escalates() {
    let mut t = CapTable::new();
    for source in all_rights() {
        let slot = t.insert(Capability::new(4, 40, source)).unwrap();
        for requested in all_rights() {
            match t.derive(slot, requested) {
                Ok(copy) => {
                    assert!(source.contains(Rights::GRANT));
                    assert!(source.contains(copy.rights), "{source:?} -> {:?}", copy.rights);
                    assert_eq!(copy.rights, requested);
                    assert_eq!(copy.endpoint, EndpointRef { id: 4, epoch: 40 });
                }
                Err(CapError::MissingRight) => assert!(!source.contains(Rights::GRANT)),
                Err(CapError::Escalation) => {
                    assert!(source.contains(Rights::GRANT) && !source.contains(requested));
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        // Deriving does not change the source.
        assert_eq!(t.get(slot), Some(Capability::new(4, 40, source)));
    }
    // A chain of derivations can only lose rights.
    let mut holder = CapTable::new();
    let mut slot = holder.insert(Capability::new(4, 40, Rights::ALL)).unwrap();
    let copy = holder.derive(slot, Rights::SEND.union(Rights::GRANT)).unwrap();
    let mut next = CapTable::new();
    slot = next.insert(copy).unwrap();
    assert_eq!(next.derive(slot, SR), Err(CapError::Escalation));
    let weaker = next.derive(slot, Rights::SEND).unwrap();
    let mut last = CapTable::new();
    slot = last.insert(weaker).unwrap();
    assert_eq!(last.derive(slot, Rights::SEND), Err(CapError::MissingRight));
    assert_eq!(last.check(slot, Rights::RECEIVE, epochs), Err(CapError::MissingRight));
    assert!(last.check(slot, Rights::SEND, epochs).is_ok());
}

#[test]
fn revoked_caps_fail_immediately() {
    let mut epoch = 5u32;
    let mut owner = CapTable::new();
    let mut other = CapTable::new();
    let own = owner.insert(Capability::new(8, epoch, Rights::ALL)).unwrap();
    let given = other.insert(owner.derive(own, Rights::SEND.union(Rights::GRANT)).unwrap()).unwrap();
    let current = |e: u32| move |id: u32| (id == 8).then_some(e);
    assert!(other.check(given, Rights::SEND, current(epoch)).is_ok());
    // Revoke: the endpoint's epoch moves on and the owner refreshes its own table.
    epoch += 1;
    assert_eq!(owner.refresh(8, epoch), 1);
    assert_eq!(other.check(given, Rights::SEND, current(epoch)), Err(CapError::Revoked));
    // Revocation wins over a missing right, and copies of a revoked cap are dead too.
    assert_eq!(other.check(given, Rights::RECEIVE, current(epoch)), Err(CapError::Revoked));
    let copy = other.derive(given, Rights::SEND).unwrap();
    let mut third = CapTable::new();
    let s = third.insert(copy).unwrap();
    assert_eq!(third.check(s, Rights::SEND, current(epoch)), Err(CapError::Revoked));
    assert!(owner.check(own, Rights::ALL, current(epoch)).is_ok());
    // A destroyed endpoint: every capability fails, purge drops them.
    assert_eq!(owner.check(own, Rights::SEND, |_| None), Err(CapError::Revoked));
    owner.insert(Capability::new(9, 0, Rights::SEND)).unwrap();
    owner.insert(Capability::new(8, epoch, Rights::SEND)).unwrap();
    assert_eq!(owner.purge(8), 2);
    assert_eq!(owner.len(), 1);
    assert_eq!(owner.iter().next().unwrap().1.endpoint.id, 9);
    assert_eq!(owner.purge(8), 0);
}

#[test]
fn errors_have_text_and_map_to_syscall_errors() {
    let all = [CapError::TableFull, CapError::Empty, CapError::Revoked, CapError::MissingRight, CapError::Escalation];
    for (i, a) in all.iter().enumerate() {
        assert!(!a.as_str().is_empty());
        assert_eq!(std::format!("{a}"), a.as_str());
        for b in &all[i + 1..] {
            assert_ne!(a.as_str(), b.as_str());
        }
    }
    assert_eq!(CapError::Empty.sys_error(), SysError::BadCapability);
    assert_eq!(CapError::Revoked.sys_error(), SysError::BadCapability);
    assert_eq!(CapError::MissingRight.sys_error(), SysError::MissingRight);
}
