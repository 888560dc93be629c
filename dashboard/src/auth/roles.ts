/**
 * What each role may do, as the gateway enforces it; the dashboard hides or
 * disables what a role may not do and says why. Pure.
 */
import type { Role } from "../api/types";

/** Something a person may do in the dashboard. */
export type Action =
  | "give_order"
  | "intervene"
  | "decide_approval"
  | "stop_switch"
  | "view_agents"
  | "verify_chains";

const ALLOWED: Record<Action, readonly Role[]> = {
  give_order: ["ceo"],
  intervene: ["ceo"],
  decide_approval: ["ceo"],
  stop_switch: ["ceo", "operator"],
  view_agents: ["ceo", "operator", "auditor"],
  verify_chains: ["ceo", "auditor"],
};

const WHY: Record<Action, string> = {
  give_order: "Only the CEO gives orders.",
  intervene: "Only the CEO pauses, resumes, cancels or answers a directive.",
  decide_approval: "Only the CEO approves or rejects.",
  stop_switch: "Only the CEO or an operator may flip the stop switch.",
  view_agents: "Viewers see the read models only; agents' health is for the CEO, operators and auditors.",
  verify_chains: "Only the CEO or an auditor may verify the hash chains.",
};

/** Whether `role` may do `action`. */
export function can(role: Role | undefined, action: Action): boolean {
  return role !== undefined && ALLOWED[action].includes(role);
}

/** Why `role` may not do `action` (null when it may). */
export function whyNot(role: Role | undefined, action: Action): string | null {
  return can(role, action) ? null : WHY[action];
}

/** Whether a value is a role the dashboard knows. */
export function isRole(value: unknown): value is Role {
  return value === "ceo" || value === "operator" || value === "auditor" || value === "viewer";
}
