//! A planner's answer to a directive: department tasks and the order they
//! depend on each other in.
//!
//! A plan is data until it is checked: every task has a kind and a key of
//! its own, every dependency names another task of the plan, and the
//! dependencies form no cycle. [`Plan::ready`] then says which tasks may be
//! dispatched once others are done.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::task::Department;

/// One task of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTask {
    /// Its key within the plan (e.g. `t1`), which dependencies name.
    pub key: String,
    /// Who carries it out.
    pub department: Department,
    /// What kind of work, in the department's vocabulary.
    pub kind: String,
    /// The kind's parameters.
    #[serde(default)]
    pub params: Value,
    /// Keys of the tasks that must complete first.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// A planner's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The tasks.
    pub tasks: Vec<PlannedTask>,
}

/// What is wrong with a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No tasks.
    #[error("a plan needs at least one task")]
    Empty,
    /// A task without a key or a kind.
    #[error("task {0:?} needs a key and a kind")]
    Incomplete(String),
    /// Two tasks share a key.
    #[error("two tasks share the key {0:?}")]
    DuplicateKey(String),
    /// A dependency names no task of the plan.
    #[error("task {task:?} depends on {missing:?}, which is not in the plan")]
    UnknownDependency {
        /// The task.
        task: String,
        /// The key it names.
        missing: String,
    },
    /// Dependencies that go round in a circle.
    #[error("tasks {0:?} depend on each other in a circle")]
    Cycle(Vec<String>),
}

impl Plan {
    /// The tasks in an order that respects every dependency (ties keep the
    /// plan's order), or what is wrong with the plan.
    pub fn order(&self) -> Result<Vec<&PlannedTask>, PlanError> {
        if self.tasks.is_empty() {
            return Err(PlanError::Empty);
        }
        let mut index = BTreeMap::new();
        for (i, task) in self.tasks.iter().enumerate() {
            if task.key.trim().is_empty() || task.kind.trim().is_empty() {
                return Err(PlanError::Incomplete(task.key.clone()));
            }
            if index.insert(task.key.as_str(), i).is_some() {
                return Err(PlanError::DuplicateKey(task.key.clone()));
            }
        }
        let mut waiting_on: Vec<BTreeSet<usize>> = Vec::with_capacity(self.tasks.len());
        for task in &self.tasks {
            let mut deps = BTreeSet::new();
            for dep in &task.depends_on {
                let &d = index
                    .get(dep.as_str())
                    .ok_or_else(|| PlanError::UnknownDependency {
                        task: task.key.clone(),
                        missing: dep.clone(),
                    })?;
                deps.insert(d);
            }
            waiting_on.push(deps);
        }
        // Kahn's algorithm, always taking the earliest task that is free.
        let mut order = Vec::with_capacity(self.tasks.len());
        let mut placed = vec![false; self.tasks.len()];
        while order.len() < self.tasks.len() {
            let next = (0..self.tasks.len())
                .find(|&i| !placed[i] && waiting_on[i].iter().all(|&d| placed[d]));
            match next {
                Some(i) => {
                    placed[i] = true;
                    order.push(&self.tasks[i]);
                }
                None => {
                    let stuck = (0..self.tasks.len())
                        .filter(|&i| !placed[i])
                        .map(|i| self.tasks[i].key.clone())
                        .collect();
                    return Err(PlanError::Cycle(stuck));
                }
            }
        }
        Ok(order)
    }

    /// Checks the plan.
    pub fn validate(&self) -> Result<(), PlanError> {
        self.order().map(drop)
    }

    /// The tasks not yet `started` whose dependencies are all `completed`, in
    /// plan order: what to dispatch next.
    pub fn ready<'a>(
        &'a self,
        completed: &BTreeSet<&str>,
        started: &BTreeSet<&str>,
    ) -> Vec<&'a PlannedTask> {
        self.tasks
            .iter()
            .filter(|t| !started.contains(t.key.as_str()))
            .filter(|t| t.depends_on.iter().all(|d| completed.contains(d.as_str())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn task(key: &str, depends_on: &[&str]) -> PlannedTask {
        PlannedTask {
            key: key.to_owned(),
            department: Department::Finance,
            kind: "invoice_audit".to_owned(),
            params: Value::Null,
            depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    fn keys(tasks: &[&PlannedTask]) -> Vec<String> {
        tasks.iter().map(|t| t.key.clone()).collect()
    }

    #[test]
    fn a_compound_order_runs_in_dependency_order() {
        // "audit this month's invoices and pay the approved ones, then forecast cash for Q3"
        let plan = Plan {
            tasks: vec![
                task("forecast", &["pay"]),
                task("audit", &[]),
                task("pay", &["audit"]),
            ],
        };
        assert_eq!(
            keys(&plan.order().expect("valid")),
            ["audit", "pay", "forecast"]
        );
        let none = BTreeSet::new();
        assert_eq!(keys(&plan.ready(&none, &none)), ["audit"]);
        let audited = BTreeSet::from(["audit"]);
        assert_eq!(keys(&plan.ready(&audited, &audited)), ["pay"]);
    }

    #[test]
    fn broken_plans_say_what_is_wrong() {
        assert_eq!(Plan { tasks: vec![] }.validate(), Err(PlanError::Empty));
        let twice = Plan {
            tasks: vec![task("a", &[]), task("a", &[])],
        };
        assert_eq!(twice.validate(), Err(PlanError::DuplicateKey("a".into())));
        let dangling = Plan {
            tasks: vec![task("a", &["b"])],
        };
        assert!(matches!(
            dangling.validate(),
            Err(PlanError::UnknownDependency { .. })
        ));
        let circle = Plan {
            tasks: vec![
                task("a", &["c"]),
                task("b", &["a"]),
                task("c", &["b"]),
                task("d", &[]),
            ],
        };
        assert_eq!(
            circle.validate(),
            Err(PlanError::Cycle(vec!["a".into(), "b".into(), "c".into()]))
        );
        let own = Plan {
            tasks: vec![task("a", &["a"])],
        };
        assert!(matches!(own.validate(), Err(PlanError::Cycle(_))));
    }

    /// Plans of up to 12 tasks whose dependencies only point backwards, so
    /// they are acyclic, shuffled.
    fn acyclic() -> impl Strategy<Value = Plan> {
        (1_usize..12)
            .prop_flat_map(|n| {
                (
                    Just(n),
                    prop::collection::vec(
                        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
                        n,
                    ),
                    Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                )
            })
            .prop_map(|(n, deps, shuffle)| {
                let tasks: Vec<PlannedTask> = (0..n)
                    .map(|i| {
                        let mut depends_on: Vec<String> = if i == 0 {
                            Vec::new()
                        } else {
                            deps[i].iter().map(|d| format!("t{}", d.index(i))).collect()
                        };
                        depends_on.sort();
                        depends_on.dedup();
                        let refs: Vec<&str> = depends_on.iter().map(String::as_str).collect();
                        task(&format!("t{i}"), &refs)
                    })
                    .collect();
                Plan {
                    tasks: shuffle.into_iter().map(|i| tasks[i].clone()).collect(),
                }
            })
    }

    proptest! {
        /// An acyclic plan is valid, its order lists every task once, and
        /// every task comes after all it depends on.
        #[test]
        fn the_order_respects_every_dependency(plan in acyclic()) {
            let order = plan.order().expect("acyclic plans are valid");
            prop_assert_eq!(order.len(), plan.tasks.len());
            let position: BTreeMap<&str, usize> =
                order.iter().enumerate().map(|(i, t)| (t.key.as_str(), i)).collect();
            for task in &plan.tasks {
                for dep in &task.depends_on {
                    prop_assert!(position[dep.as_str()] < position[task.key.as_str()]);
                }
            }
        }

        /// Dispatching whatever is ready, round after round, runs every task
        /// exactly once.
        #[test]
        fn dispatching_ready_tasks_runs_each_once(plan in acyclic()) {
            let mut done: BTreeSet<&str> = BTreeSet::new();
            for _ in 0..plan.tasks.len() {
                let ready: Vec<&str> = plan
                    .ready(&done, &done)
                    .into_iter()
                    .map(|t| t.key.as_str())
                    .collect();
                prop_assert!(!ready.is_empty() || done.len() == plan.tasks.len());
                for key in ready {
                    prop_assert!(done.insert(key), "{} dispatched twice", key);
                }
            }
            prop_assert_eq!(done.len(), plan.tasks.len());
        }
    }
}
