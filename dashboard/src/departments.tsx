/**
 * The departments' pages. Adding one (Finance, Foundry …) is one file under
 * `pages/` plus one line here: its route, nav label and page.
 */
import type { ComponentType } from "react";
import { LogisticsPage } from "./pages/Logistics";

/** A department's page in the dashboard. */
export interface Department {
  /** The department's name as tasks carry it, e.g. `logistics`. */
  id: string;
  /** The route, e.g. `/logistics`. */
  path: string;
  /** The navigation label. */
  label: string;
  /** The page. */
  page: ComponentType;
}

/** Every department with a page, in navigation order. */
export const DEPARTMENTS: Department[] = [
  { id: "logistics", path: "/logistics", label: "Logistics", page: LogisticsPage },
];
