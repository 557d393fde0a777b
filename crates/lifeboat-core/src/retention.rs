//! Retention as a pure decision: backups (time, kind, label, pin) in; keep, relabel or delete
//! out. Nothing here touches storage or the catalog, so every rule is tested directly.
//!
//! - On-demand: the `keep_recent` newest are kept whatever their age; older ones go once they
//!   are more than `max_age_days` old.
//! - Scheduled, grandfather-father-son: the oldest backup of each of the `monthly` most recent
//!   months is monthly; of the rest, the oldest of each of the `weekly` most recent ISO weeks is
//!   weekly; of the rest, the oldest of each of the `daily` most recent days is daily. The
//!   counts are of periods that have backups, not calendar spans, so a laptop that was off for
//!   a week never loses more than the rules say. The newest scheduled backup is always kept.
//! - Pinned backups are always kept and take no part in the above.
//!
//! Periods are in UTC, so the decision does not depend on where it runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use lifeboat_format::manifest::BackupKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RetentionPolicy {
    pub on_demand_keep_recent: u32,
    pub on_demand_max_age_days: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            on_demand_keep_recent: 3,
            on_demand_max_age_days: 30,
            daily: 7,
            weekly: 4,
            monthly: 12,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum Label {
    Daily,
    Weekly,
    Monthly,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Daily, Self::Weekly, Self::Monthly]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub kind: BackupKind,
    pub label: Option<Label>,
    pub pinned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Keep,
    Relabel(Label),
    Delete,
}

/// What to do with each backup, in the order given.
pub fn decide(
    policy: &RetentionPolicy,
    backups: &[Candidate],
    now: DateTime<Utc>,
) -> Vec<(String, Action)> {
    let mut kept_as: BTreeMap<usize, Option<Label>> = BTreeMap::new();
    let recent = policy.on_demand_keep_recent as usize;
    keep_recent_and_young(
        BackupKind::OnDemand,
        recent,
        policy,
        backups,
        now,
        &mut kept_as,
    );
    // A restore's safety backups have their own rule, so restores never push the user's own
    // on-demand backups out of "the most recent": the newest is kept (the way back from the
    // last restore) and the others for as long as on-demand backups are.
    keep_recent_and_young(BackupKind::Safety, 1, policy, backups, now, &mut kept_as);
    keep_scheduled(policy, backups, &mut kept_as);
    backups
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let action = if b.pinned {
                Action::Keep
            } else {
                match kept_as.get(&i) {
                    None => Action::Delete,
                    Some(Some(label)) if b.label != Some(*label) => Action::Relabel(*label),
                    Some(_) => Action::Keep,
                }
            };
            (b.id.clone(), action)
        })
        .collect()
}

/// Indices of the unpinned backups of `kind`, newest first.
fn newest_first(backups: &[Candidate], kind: BackupKind) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..backups.len())
        .filter(|&i| backups[i].kind == kind && !backups[i].pinned)
        .collect();
    indices.sort_by(|&a, &b| {
        backups[b]
            .created_at
            .cmp(&backups[a].created_at)
            .then_with(|| backups[b].id.cmp(&backups[a].id))
    });
    indices
}

/// Keeps the `recent` newest backups of `kind`, and any younger than the on-demand age.
fn keep_recent_and_young(
    kind: BackupKind,
    recent: usize,
    policy: &RetentionPolicy,
    backups: &[Candidate],
    now: DateTime<Utc>,
    kept_as: &mut BTreeMap<usize, Option<Label>>,
) {
    let max_age = chrono::Duration::days(i64::from(policy.on_demand_max_age_days));
    for (rank, i) in newest_first(backups, kind).into_iter().enumerate() {
        if rank < recent || now - backups[i].created_at <= max_age {
            kept_as.insert(i, None);
        }
    }
}

/// A calendar month, ISO week or day, comparable in time order.
type Period = (i32, u32, u32);
type PeriodOf = fn(&DateTime<Utc>) -> Period;

fn month_of(t: &DateTime<Utc>) -> Period {
    (t.year(), t.month(), 0)
}

fn week_of(t: &DateTime<Utc>) -> Period {
    let week = t.iso_week();
    (week.year(), week.week(), 0)
}

fn day_of(t: &DateTime<Utc>) -> Period {
    (t.year(), t.month(), t.day())
}

fn keep_scheduled(
    policy: &RetentionPolicy,
    backups: &[Candidate],
    kept_as: &mut BTreeMap<usize, Option<Label>>,
) {
    let scheduled = newest_first(backups, BackupKind::Scheduled);
    let tiers: [(Label, u32, PeriodOf); 3] = [
        (Label::Monthly, policy.monthly, month_of),
        (Label::Weekly, policy.weekly, week_of),
        (Label::Daily, policy.daily, day_of),
    ];
    for (label, count, period_of) in tiers {
        // Period → its oldest backup not taken by a higher tier.
        let mut periods: BTreeMap<Period, usize> = BTreeMap::new();
        for &i in &scheduled {
            if kept_as.contains_key(&i) {
                continue;
            }
            // Newest first, so the last one written per period is its oldest.
            periods.insert(period_of(&backups[i].created_at), i);
        }
        for (_, &i) in periods.iter().rev().take(count as usize) {
            kept_as.insert(i, Some(label));
        }
    }
    if let Some(&newest) = scheduled.first() {
        kept_as.entry(newest).or_insert(Some(Label::Daily));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(days: i64, hours: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::days(days)
            + chrono::Duration::hours(hours)
    }

    fn candidate(n: usize, created_at: DateTime<Utc>, kind: BackupKind) -> Candidate {
        Candidate {
            id: format!("b{n:05}"),
            created_at,
            kind,
            label: None,
            pinned: false,
        }
    }

    /// Applies the decisions: drops deleted backups, records new labels.
    fn apply(backups: &[Candidate], decisions: &[(String, Action)]) -> Vec<Candidate> {
        backups
            .iter()
            .zip(decisions)
            .filter_map(|(b, (_, action))| match action {
                Action::Delete => None,
                Action::Keep => Some(b.clone()),
                Action::Relabel(label) => Some(Candidate {
                    label: Some(*label),
                    ..b.clone()
                }),
            })
            .collect()
    }

    fn labels(backups: &[Candidate]) -> (usize, usize, usize) {
        let count = |l| backups.iter().filter(|b| b.label == Some(l)).count();
        (
            count(Label::Monthly),
            count(Label::Weekly),
            count(Label::Daily),
        )
    }

    #[test]
    fn on_demand_keeps_the_three_newest_and_anything_younger_than_thirty_days() {
        let now = at(100, 0);
        let backups: Vec<Candidate> = [1, 2, 3, 4, 80, 95]
            .iter()
            .enumerate()
            .map(|(n, &d)| candidate(n, at(d, 0), BackupKind::OnDemand))
            .collect();
        let kept: Vec<String> = decide(&RetentionPolicy::default(), &backups, now)
            .into_iter()
            .filter(|(_, a)| *a != Action::Delete)
            .map(|(id, _)| id)
            .collect();
        // Days 80 and 95 are young; day 4 is the third newest.
        assert_eq!(kept, vec!["b00003", "b00004", "b00005"]);
    }

    #[test]
    fn safety_backups_do_not_count_among_the_most_recent_on_demand_ones() {
        let now = at(100, 0);
        // Three old on-demand backups, then restores' safety backups: old, and one recent.
        let mut backups: Vec<Candidate> = [1, 2, 3]
            .iter()
            .enumerate()
            .map(|(n, &d)| candidate(n, at(d, 0), BackupKind::OnDemand))
            .collect();
        for (n, d) in [(3, 10), (4, 20), (5, 90)] {
            backups.push(candidate(n, at(d, 0), BackupKind::Safety));
        }
        let kept: Vec<String> = decide(&RetentionPolicy::default(), &backups, now)
            .into_iter()
            .filter(|(_, a)| *a != Action::Delete)
            .map(|(id, _)| id)
            .collect();
        // The three on-demand backups stay the three most recent; of the safety backups only
        // the young one (also the newest) is kept.
        assert_eq!(kept, vec!["b00000", "b00001", "b00002", "b00005"]);
    }

    #[test]
    fn a_year_of_daily_backups_ends_at_12_monthly_4_weekly_7_daily() {
        let mut backups = Vec::new();
        for day in 0..730 {
            backups.push(candidate(day as usize, at(day, 0), BackupKind::Scheduled));
            let decisions = decide(&RetentionPolicy::default(), &backups, at(day, 1));
            backups = apply(&backups, &decisions);
        }
        assert_eq!(labels(&backups), (12, 4, 7));
        assert_eq!(backups.len(), 23);
    }

    #[test]
    fn the_oldest_daily_of_a_week_becomes_its_weekly() {
        // Mon 2025-01-06 … Sun 2025-01-12, then 2025-01-13.
        let backups: Vec<Candidate> = (5..13)
            .map(|d| candidate(d as usize, at(d, 0), BackupKind::Scheduled))
            .collect();
        let policy = RetentionPolicy {
            monthly: 0,
            ..RetentionPolicy::default()
        };
        let decisions = decide(&policy, &backups, at(13, 0));
        assert_eq!(
            decisions[0],
            ("b00005".into(), Action::Relabel(Label::Weekly))
        );
        assert_eq!(
            decisions[7],
            ("b00012".into(), Action::Relabel(Label::Weekly))
        );
    }

    fn arbitrary_backups() -> impl Strategy<Value = Vec<Candidate>> {
        prop::collection::vec(
            (0i64..800, 0i64..24, 0u8..10, prop::bool::weighted(0.05)),
            0..120,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(n, (day, hour, kind, pinned))| Candidate {
                    pinned,
                    ..candidate(
                        n,
                        at(day, hour),
                        match kind {
                            0..5 => BackupKind::Scheduled,
                            5..9 => BackupKind::OnDemand,
                            _ => BackupKind::Safety,
                        },
                    )
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn pinned_and_the_newest_of_each_kind_are_never_deleted(backups in arbitrary_backups()) {
            let decisions = decide(&RetentionPolicy::default(), &backups, at(810, 0));
            for kind in [BackupKind::OnDemand, BackupKind::Scheduled, BackupKind::Safety] {
                if let Some(&newest) = newest_first(&backups, kind).first() {
                    prop_assert_ne!(decisions[newest].1, Action::Delete);
                }
            }
            for (b, (_, action)) in backups.iter().zip(&decisions) {
                if b.pinned {
                    prop_assert_eq!(*action, Action::Keep);
                }
            }
        }

        #[test]
        fn applying_the_policy_twice_changes_nothing_the_second_time(backups in arbitrary_backups()) {
            let policy = RetentionPolicy::default();
            let now = at(810, 0);
            let once = apply(&backups, &decide(&policy, &backups, now));
            let again = decide(&policy, &once, now);
            prop_assert!(again.iter().all(|(_, a)| *a == Action::Keep), "{:?}", again);
        }

        #[test]
        fn gaps_never_cost_more_than_the_rules_say(backups in arbitrary_backups()) {
            let policy = RetentionPolicy::default();
            let now = at(810, 0);
            let kept = apply(&backups, &decide(&policy, &backups, now));
            let scheduled = |set: &[Candidate]| -> Vec<DateTime<Utc>> {
                set.iter().filter(|b| b.kind == BackupKind::Scheduled && !b.pinned).map(|b| b.created_at).collect()
            };
            // The most recent `n` periods that had scheduled backups each still have one.
            let periods = |times: Vec<DateTime<Utc>>, of: PeriodOf| {
                times.iter().map(of).collect::<std::collections::BTreeSet<_>>()
            };
            let tiers: [(u32, PeriodOf); 3] =
                [(policy.daily, day_of), (policy.weekly, week_of), (policy.monthly, month_of)];
            for (count, of) in tiers {
                let before = periods(scheduled(&backups), of);
                let after = periods(scheduled(&kept), of);
                for period in before.iter().rev().take(count as usize) {
                    prop_assert!(after.contains(period), "{:?} lost every backup", period);
                }
            }
            let max_age = chrono::Duration::days(i64::from(policy.on_demand_max_age_days));
            for b in backups.iter().filter(|b| b.kind == BackupKind::OnDemand && now - b.created_at <= max_age) {
                prop_assert!(kept.iter().any(|k| k.id == b.id), "young {} was deleted", b.id);
            }
        }
    }
}
