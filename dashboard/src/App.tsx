/**
 * The dashboard's shell: the session gate (sign-in until a token is
 * accepted), the live feed of the signed-in app, and the routes. The
 * departments' routes come from `departments.tsx`.
 */
import { BrowserRouter, Navigate, Route, Routes } from "react-router-dom";
import { SessionProvider, useSession } from "./auth/session";
import { FeedProvider } from "./feed/FeedProvider";
import { Layout } from "./components/Layout";
import { Loading } from "./components/States";
import { DEPARTMENTS } from "./departments";
import { SignIn } from "./pages/SignIn";
import { DirectivesPageView } from "./pages/Directives";
import { DirectiveDetailPage } from "./pages/DirectiveDetail";
import { ApprovalsPage } from "./pages/Approvals";
import { AgentsPage } from "./pages/Agents";
import { AuditPage } from "./pages/Audit";

/** The routes of the signed-in app. */
export function SignedInRoutes() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Navigate to="/directives" replace />} />
        <Route path="directives" element={<DirectivesPageView />} />
        <Route path="directives/:id" element={<DirectiveDetailPage />} />
        <Route path="approvals" element={<ApprovalsPage />} />
        {DEPARTMENTS.map(({ id, path, page: Page }) => (
          <Route key={id} path={path.replace(/^\//, "")} element={<Page />} />
        ))}
        <Route path="agents" element={<AgentsPage />} />
        <Route path="audit" element={<AuditPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

function NotFound() {
  return (
    <>
      <h1>Not found</h1>
      <p>There is no page here. Pick one from the navigation above.</p>
    </>
  );
}

/** Sign-in, or the app over the signed-in session's feed. */
export function Gate({ liveFeed = true }: { liveFeed?: boolean }) {
  const { api, token, restoring } = useSession();
  if (restoring) return <Loading what="Restoring your session" />;
  if (!api) return <SignIn />;
  return (
    <FeedProvider key={token ?? ""} api={api} enabled={liveFeed}>
      <SignedInRoutes />
    </FeedProvider>
  );
}

export function App() {
  return (
    <SessionProvider>
      <BrowserRouter>
        <Gate />
      </BrowserRouter>
    </SessionProvider>
  );
}
