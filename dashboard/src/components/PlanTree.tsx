/** A directive's plan as a nested list of tasks with their live status. */
import type { Task } from "../api/types";
import { buildPlanTree, type PlanNode } from "../plan/planTree";
import { humanize } from "../api/format";
import { Badge } from "./Badge";
import { Empty } from "./States";

function describeParams(params: unknown): string {
  if (!params || typeof params !== "object") return "";
  return Object.entries(params as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${humanize(k)}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" · ");
}

function Node({ node }: { node: PlanNode }) {
  const { task } = node;
  const params = describeParams(task.params);
  return (
    <li className="plan-node" data-testid="task-row" data-task-key={task.key}>
      <div className="plan-task">
        <Badge status={task.status} />
        <strong className="plan-kind">{humanize(task.kind)}</strong>
        <span className="muted">
          {task.department} · {task.key}
        </span>
        {node.alsoAfter.length ? <span className="muted"> · also after {node.alsoAfter.join(", ")}</span> : null}
      </div>
      {params ? <div className="plan-params muted">{params}</div> : null}
      {task.note ? <div className="plan-note">{task.note}</div> : null}
      {task.approval_rule ? <div className="plan-rule muted">Approval rule: {task.approval_rule}</div> : null}
      {node.children.length ? (
        <ul className="plan-children">
          {node.children.map((child) => (
            <Node key={child.task.id} node={child} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

/** The plan tree; an empty plan says the planner has not answered yet. */
export function PlanTree({ tasks, order }: { tasks: Task[]; order?: string[] }) {
  if (tasks.length === 0) return <Empty>No tasks yet — the Brain is planning.</Empty>;
  return (
    <ul className="plan-tree" aria-label="Plan">
      {buildPlanTree(tasks, order).map((node) => (
        <Node key={node.task.id} node={node} />
      ))}
    </ul>
  );
}
