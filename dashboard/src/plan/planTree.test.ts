import { describe, expect, it } from "vitest";
import { buildPlanTree, dependenciesOf, statusCounts, type PlanNode } from "./planTree";
import { task } from "../testing/fakeServer";
import type { Task } from "../api/types";

function shape(nodes: PlanNode[]): unknown {
  return nodes.map((n) => (n.children.length ? { [n.task.key]: shape(n.children) } : n.task.key));
}

describe("the plan tree", () => {
  it("hangs each task under the dependency planned last, listing the others beside it", () => {
    const tasks = [task("scan"), task("count"), task("reorder", ["scan", "count"]), task("report", ["reorder"])] as Task[];
    const tree = buildPlanTree(tasks, ["scan", "count", "reorder", "report"]);
    expect(shape(tree)).toEqual(["scan", { count: [{ reorder: ["report"] }] }]);
    expect(tree[1].children[0].alsoAfter).toEqual(["scan"]);
  });

  it("follows the plan's order, not the list's", () => {
    const tasks = [task("b"), task("a")] as Task[];
    expect(shape(buildPlanTree(tasks, ["a", "b"]))).toEqual(["a", "b"]);
  });

  it("keeps tasks with unknown dependencies and cycles as roots", () => {
    const tasks = [task("a", ["b"]), task("b", ["a"]), task("c", ["ghost"])] as Task[];
    const tree = buildPlanTree(tasks, ["a", "b", "c"]);
    const keys = JSON.stringify(shape(tree));
    for (const key of ["a", "b", "c"]) expect(keys).toContain(`"${key}"`);
    expect(tree.map((n) => n.task.key)).toContain("c");
  });

  it("reads depends_on given as JSON text too", () => {
    expect(dependenciesOf({ ...task("x"), depends_on: '["a","b"]' } as Task)).toEqual(["a", "b"]);
    expect(dependenciesOf({ ...task("x"), depends_on: null } as Task)).toEqual([]);
  });

  it("counts tasks by status", () => {
    expect(statusCounts([task("a"), task("b", [], "completed"), task("c")] as Task[])).toEqual({ planned: 2, completed: 1 });
  });
});
