/**
 * The dashboard: a hash router over five views (runs, a run, compare, sweeps, plan). The store's
 * health is checked first: a store that cannot be read gets a full-page explanation, and the page
 * recovers by itself when a server-sent event says the store changed.
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiFailure, onStoreChange } from "./api.js";
import type { Health } from "../server/api.js";
import { RunsView } from "./views/runs.js";
import { RunView } from "./views/run.js";
import { CompareView } from "./views/compare.js";
import { SweepsView, SweepView } from "./views/sweeps.js";
import { PlanView } from "./views/plan.js";
import { ErrorPanel } from "./views/common.js";

export interface Route {
  view: "runs" | "run" | "compare" | "sweeps" | "sweep" | "plan";
  id?: string;
  ids?: string[];
}

export function parseRoute(hash: string): Route {
  const [path = "", query = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts[0] === "runs" && parts[1]) return { view: "run", id: parts[1] };
  if (parts[0] === "compare")
    return { view: "compare", ids: (params.get("ids") ?? "").split(",").filter(Boolean) };
  if (parts[0] === "sweeps" && parts[1]) return { view: "sweep", id: parts[1] };
  if (parts[0] === "sweeps") return { view: "sweeps" };
  if (parts[0] === "plan") return { view: "plan" };
  return { view: "runs" };
}

function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function App() {
  const route = useRoute();
  const [health, setHealth] = useState<Health | null>(null);
  const [failure, setFailure] = useState<ApiFailure | null>(null);
  const [live, setLive] = useState(false);
  /** Bumped on every store change: views refetch their lists on it. */
  const [version, setVersion] = useState(0);
  useEffect(() => {
    // Health is asked again only while it is bad (or the server was away), not on every step.
    let healthy = false;
    const check = () =>
      api
        .health()
        .then((h) => {
          healthy = h.ok;
          setHealth(h);
          setFailure(null);
        })
        .catch((e: unknown) =>
          setFailure(
            e instanceof ApiFailure
              ? e
              : new ApiFailure(0, { code: "NETWORK", message: String(e), problems: [] }),
          ),
        );
    check();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const close = onStoreChange(
      () => {
        // Bursts of commits (a flush of many steps) become one refetch.
        clearTimeout(timer);
        timer = setTimeout(() => {
          setVersion((v) => v + 1);
          if (!healthy) check();
        }, 150);
      },
      (up) => {
        setLive(up);
        if (!up) healthy = false;
      },
    );
    return () => {
      close();
      clearTimeout(timer);
    };
  }, []);
  const nav = (view: Route["view"], href: string, label: string) => (
    <a
      href={href}
      class={
        route.view === view ||
        (view === "runs" && route.view === "run") ||
        (view === "sweeps" && route.view === "sweep")
          ? "active"
          : ""
      }
    >
      {label}
    </a>
  );
  let body;
  if (failure) body = <ErrorPanel title="The dashboard's server cannot be reached" error={failure.body} />;
  else if (!health) body = <p class="muted">loading…</p>;
  else if (!health.ok && health.error && route.view !== "plan")
    body = (
      <ErrorPanel title="The run store cannot be read" error={health.error}>
        <p class="muted">
          Store: <code>{health.dbPath}</code>. This page reloads by itself when the store changes; the planner
          works without a store.
        </p>
      </ErrorPanel>
    );
  else if (route.view === "run") body = <RunView id={route.id!} />;
  else if (route.view === "compare") body = <CompareView ids={route.ids ?? []} version={version} />;
  else if (route.view === "sweeps") body = <SweepsView version={version} />;
  else if (route.view === "sweep") body = <SweepView id={route.id!} version={version} />;
  else if (route.view === "plan") body = <PlanView />;
  else body = <RunsView version={version} />;
  return (
    <div class="layout">
      <aside class="side">
        <div class="brand">
          lora<b>prof</b>
        </div>
        <nav>
          {nav("runs", "#/runs", "Runs")}
          {nav("sweeps", "#/sweeps", "Sweeps & studies")}
          {nav("plan", "#/plan", "Plan")}
        </nav>
        <div class="side-foot">
          <span class={`live-dot ${live ? "on" : ""}`} id="live-state" data-live={live ? "1" : "0"} />
          {live ? "live" : "offline"}
          {health && (
            <div class="store" title={health.dbPath}>
              {health.dbPath}
            </div>
          )}
        </div>
      </aside>
      <main class="content">{body}</main>
    </div>
  );
}

const root = document.getElementById("app")!;
root.textContent = ""; // the boot message
render(<App />, root);
