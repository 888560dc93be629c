/**
 * A directive's plan as a tree: each task hangs under the last of the tasks
 * it depends on (in plan order); its other dependencies are listed beside
 * it. Tasks with no (known) dependency are roots. Cycles and unknown keys
 * never lose a task. Pure.
 */
import type { Task } from "../api/types";

/** A task in the tree. */
export interface PlanNode {
  task: Task;
  /** The keys of its dependencies other than its parent. */
  alsoAfter: string[];
  children: PlanNode[];
}

/** The keys a task depends on (`depends_on` is JSON: an array of keys). */
export function dependenciesOf(task: Task): string[] {
  const raw = task.depends_on;
  if (Array.isArray(raw)) return raw.filter((k): k is string => typeof k === "string");
  if (typeof raw === "string") {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (Array.isArray(parsed)) return parsed.filter((k): k is string => typeof k === "string");
    } catch {
      return raw ? [raw] : [];
    }
  }
  return [];
}

/** The forest of `tasks`, in the plan's order (`order`: the plan's keys). */
export function buildPlanTree(tasks: Task[], order?: string[]): PlanNode[] {
  const rank = new Map<string, number>();
  (order ?? []).forEach((key, i) => rank.set(key, i));
  const sorted = [...tasks].sort((a, b) => (rank.get(a.key) ?? 1e9) - (rank.get(b.key) ?? 1e9));
  sorted.forEach((task, i) => {
    if (!rank.has(task.key)) rank.set(task.key, 1e9 + i);
  });
  const nodes = new Map<string, PlanNode>();
  for (const task of sorted) nodes.set(task.key, { task, alsoAfter: [], children: [] });

  const parentOf = new Map<string, string>();
  for (const task of sorted) {
    const deps = dependenciesOf(task).filter((k) => k !== task.key && nodes.has(k));
    if (deps.length === 0) continue;
    const parent = deps.reduce((a, b) => ((rank.get(a) ?? 0) >= (rank.get(b) ?? 0) ? a : b));
    // Refuse a parent that would close a loop: the task stays a root.
    let walk: string | undefined = parent;
    let loops = false;
    while (walk !== undefined) {
      if (walk === task.key) {
        loops = true;
        break;
      }
      walk = parentOf.get(walk);
    }
    if (!loops) parentOf.set(task.key, parent);
    const node = nodes.get(task.key)!;
    node.alsoAfter = dependenciesOf(task).filter((k) => k !== (loops ? undefined : parent) && k !== task.key);
  }

  const roots: PlanNode[] = [];
  for (const task of sorted) {
    const node = nodes.get(task.key)!;
    const parent = parentOf.get(task.key);
    if (parent) nodes.get(parent)!.children.push(node);
    else roots.push(node);
  }
  return roots;
}

/** How many tasks are in each status. */
export function statusCounts(tasks: Task[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const task of tasks) counts[task.status] = (counts[task.status] ?? 0) + 1;
  return counts;
}
