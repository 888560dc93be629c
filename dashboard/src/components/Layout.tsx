/** The signed-in frame: header with who is signed in, navigation, the command bar, the page. */
import { NavLink, Outlet } from "react-router-dom";
import { useSession } from "../auth/session";
import { DEPARTMENTS } from "../departments";
import { useFeedStatus } from "../feed/FeedProvider";
import { CommandBar } from "./CommandBar";

const FEED_LABEL = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", stopped: "offline" } as const;

/** The main navigation: fixed pages, then the departments' registry. */
export const NAV: Array<{ to: string; label: string }> = [
  { to: "/directives", label: "Directives" },
  { to: "/approvals", label: "Approvals" },
  ...DEPARTMENTS.map((d) => ({ to: d.path, label: d.label })),
  { to: "/agents", label: "Agents" },
  { to: "/audit", label: "Audit" },
];

export function Layout() {
  const { session, signOut } = useSession();
  const feed = useFeedStatus();
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">AgentOS</span>
        <nav aria-label="Main">
          <ul className="nav">
            {NAV.map((item) => (
              <li key={item.to}>
                <NavLink to={item.to}>{item.label}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span className={`feed-dot feed-${feed}`} title={`Live feed: ${FEED_LABEL[feed]}`} aria-label={`Live feed: ${FEED_LABEL[feed]}`} />
          <span data-testid="signed-in-as">
            {session?.name} <span className="role">{session?.role}</span>
          </span>
          <button type="button" className="button small quiet" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <CommandBar />
      <main id="main" className="page" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
